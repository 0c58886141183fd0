"""Label tables against the published ones, written out here by class name
(Cityscapes' labels.py; SYNTHIA-RAND-CITYSCAPES as the ADVENT code maps it)."""
import numpy as np

from advent.data.labels import (CITYSCAPES19_TO_SYNTHIA16, CITYSCAPES_CLASSES,
                                CITYSCAPES_LABEL_ID_TO_TRAIN_ID, IGNORE_INDEX,
                                SYNTHIA16_CLASSES, SYNTHIA_ID_TO_TRAIN_ID_16, get_protocol,
                                map_labels)

CITYSCAPES_ID_TO_NAME = {
    7: "road", 8: "sidewalk", 11: "building", 12: "wall", 13: "fence", 17: "pole",
    19: "traffic light", 20: "traffic sign", 21: "vegetation", 22: "terrain", 23: "sky",
    24: "person", 25: "rider", 26: "car", 27: "truck", 28: "bus", 31: "train",
    32: "motorcycle", 33: "bicycle",
}
SYNTHIA_ID_TO_NAME = {
    3: "road", 4: "sidewalk", 2: "building", 21: "wall", 5: "fence", 7: "pole",
    15: "traffic light", 9: "traffic sign", 6: "vegetation", 1: "sky", 10: "person",
    17: "rider", 8: "car", 19: "bus", 12: "motorcycle", 11: "bicycle",
}


def test_cityscapes_label_ids_map_to_the_19_train_ids_in_order():
    assert list(CITYSCAPES_CLASSES) == list(CITYSCAPES_ID_TO_NAME.values())  # train ids 0..18
    named = {i: CITYSCAPES_CLASSES[t] for i, t in CITYSCAPES_LABEL_ID_TO_TRAIN_ID.items()}
    assert named == CITYSCAPES_ID_TO_NAME
    ids = np.arange(256)
    want = np.array([CITYSCAPES_CLASSES.index(CITYSCAPES_ID_TO_NAME[i])
                     if i in CITYSCAPES_ID_TO_NAME else IGNORE_INDEX for i in ids])
    np.testing.assert_array_equal(map_labels(ids, CITYSCAPES_LABEL_ID_TO_TRAIN_ID), want)


def test_synthia_ids_map_to_the_16_shared_classes_and_13_drop_wall_fence_pole():
    named = {i: SYNTHIA16_CLASSES[t] for i, t in SYNTHIA_ID_TO_TRAIN_ID_16.items()}
    assert named == SYNTHIA_ID_TO_NAME
    assert sorted(SYNTHIA_ID_TO_TRAIN_ID_16.values()) == list(range(16))
    # the 16 keep Cityscapes' order; terrain, truck and train are the three dropped
    assert [c for c in CITYSCAPES_CLASSES if c in SYNTHIA16_CLASSES] == list(SYNTHIA16_CLASSES)
    assert set(CITYSCAPES_CLASSES) - set(SYNTHIA16_CLASSES) == {"terrain", "truck", "train"}
    assert {CITYSCAPES_CLASSES[a]: SYNTHIA16_CLASSES[b]
            for a, b in CITYSCAPES19_TO_SYNTHIA16.items()} == {c: c for c in SYNTHIA16_CLASSES}
    protocol = get_protocol("synthia16")
    assert [protocol.class_names[i] for i in protocol.subsets["mIoU13"]] == [
        c for c in SYNTHIA16_CLASSES if c not in ("wall", "fence", "pole")]
    # 16-bit ids beyond the table (and 0, "void") are ignored
    np.testing.assert_array_equal(map_labels(np.array([0, 3, 259, 65535], np.uint16),
                                             SYNTHIA_ID_TO_TRAIN_ID_16), [255, 0, 255, 255])
