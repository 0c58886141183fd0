"""The folder dataset kind: listing plain folders, preparing them through the parameters
(class maps, unlabelled target images, hold-out, GTA5 -> own images), the input
fingerprint, and a clear error for each bad input of issue 14."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from advent.data.domains import prepare_domain
from advent.data.folder import list_folder
from advent.data.inputs import input_fingerprint
from advent.data.prepared import PreparedDataset, read_meta
from advent.data.readers import RawDataError
from advent.params import FolderConfig, FolderSourceConfig, FolderTargetConfig, load_params
from tests.fixtures_raw import make_gta5
from scripts.own_data_example import (CLASSES, SOURCE_COLORS, TARGET_COLORS, VALUES, make_source,
                            make_target, write_class_map)

ROOT = Path(__file__).resolve().parent.parent
BASE = load_params(ROOT / "params.yaml").data


def _data(tmp_path: Path, source: str = "folder", target: str = "folder", **target_opts):
    folder = FolderConfig(
        FolderSourceConfig(str(tmp_path / "source"), str(tmp_path / "classes.yaml"), (16, 32)),
        FolderTargetConfig(str(tmp_path / "target"), target_opts.pop("class_map", ""), (16, 32),
                           **target_opts))
    return replace(BASE, source=source, target=target, folder=folder)


def _images(folder: Path, stems, size=(8, 12)):
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(folder / f"{stem}.png")


# --------------------------------------------------------------------------- listing

def test_listing_pairs_by_stem_and_holds_val_out_of_test(tmp_path):
    _images(tmp_path / "images", ["b", "a"])
    _images(tmp_path / "test/images", [f"t{i}" for i in range(5)])
    _images(tmp_path / "test/labels", [f"t{i}" for i in range(5)])
    samples = list_folder(tmp_path, val_count=2, seed=3)
    assert [(s.split, s.sample_id, s.label) for s in samples[:2]] == [("train", "a", None),
                                                                      ("train", "b", None)]
    val = {s.sample_id for s in samples if s.split == "val"}
    test = {s.sample_id for s in samples if s.split == "test"}
    assert len(val) == 2 and len(test) == 3 and not val & test
    assert {s.sample_id for s in list_folder(tmp_path, val_count=2, seed=3) if s.split == "val"} == val
    assert all(s.label == tmp_path / "test/labels" / f"{s.sample_id}.png"
               for s in samples if s.split != "train")
    assert [s.split for s in list_folder(tmp_path)] == ["train"] * 2 + ["test"] * 5


@pytest.mark.parametrize("make, message", [
    (lambda r: (_images(r / "images", ["a", "b"]), _images(r / "labels", ["a"])),
     r"image .*images/b\.png has no label: expected .*labels/b\.png"),
    (lambda r: (_images(r / "images", ["a"]), _images(r / "labels", ["a", "z"])),
     r"label .*labels/z\.png has no image"),
    (lambda r: (r / "images").mkdir(parents=True), r"no images \(.png, .jpg, .jpeg\) in .*images"),
    (lambda r: r.mkdir(exist_ok=True), r"no images folder .*images"),
    (lambda r: (_images(r / "images", ["a"]), (r / "labels").mkdir(),
                Image.new("L", (2, 2)).save(r / "labels/a.jpg")),
     r"label .*labels/a\.jpg is a JPEG: labels must be PNG"),
    (lambda r: (_images(r / "images", ["a"]), Image.new("RGB", (2, 2)).save(r / "images/a.jpg")),
     r"images/a\.jpg and .*images/a\.png are two images of one sample 'a'"),
])
def test_bad_folders_are_refused_naming_the_file(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(RawDataError, match=message):
        list_folder(tmp_path, ("train",))


def test_hold_out_needs_a_test_folder_and_no_val_folder(tmp_path):
    _images(tmp_path / "images", ["a"])
    with pytest.raises(ValueError, match="val_count 2 holds val out of .*test, which does not exist"):
        list_folder(tmp_path, val_count=2)
    _images(tmp_path / "test/images", ["t0", "t1"])
    _images(tmp_path / "test/labels", ["t0", "t1"])
    with pytest.raises(ValueError, match="val_count 2 leaves no test images"):
        list_folder(tmp_path, val_count=2)
    _images(tmp_path / "val/images", ["v"])
    _images(tmp_path / "val/labels", ["v"])
    with pytest.raises(ValueError, match="val_count 1 would hold out another one"):
        list_folder(tmp_path, val_count=1)


# --------------------------------------------------------------------------- preparing

def test_a_folder_pair_prepares_through_the_parameters(tmp_path):
    make_source(tmp_path / "source", n=4)
    make_target(tmp_path / "target", n_train=3, n_test=5)
    write_class_map(tmp_path / "classes.yaml")
    write_class_map(tmp_path / "target.yaml", TARGET_COLORS, with_values=False)
    data = _data(tmp_path, class_map=str(tmp_path / "target.yaml"), val_count=2, seed=7)
    prepare_domain(data, "source", tmp_path / "p/source", workers=1)
    prepare_domain(data, "target", tmp_path / "p/target", workers=1)
    source = PreparedDataset(tmp_path / "p/source", "train")
    assert source.protocol.name == "blocks5" and source.protocol.class_names == CLASSES
    assert len(source) == 4 and source.labelled and source.image_size == (16, 32)
    # both encodings decode to the same classes: 16-bit values (even) and colours (odd)
    for i in range(4):
        label = source.read_arrays(i)[1]
        assert label.shape == (16, 32) and set(np.unique(label)) <= set(range(5))
    meta = read_meta(tmp_path / "p/target")
    assert {k: v["count"] for k, v in meta["splits"].items()} == {"train": 3, "val": 2, "test": 3}
    train = PreparedDataset(tmp_path / "p/target", "train")
    assert not train.labelled and (train.read_arrays(0)[1] == 255).all()
    assert train.read_arrays(1)[0].shape == (16, 32, 3)  # the 40x80 image, resized
    test = PreparedDataset(tmp_path / "p/target", "test")
    assert test.labelled and test.protocol == source.protocol
    assert set(np.unique(test.read_arrays(0)[1])) <= set(range(5))


def test_gta5_to_your_own_unlabelled_camera_images(tmp_path):
    make_gta5(tmp_path / "gta5", n=2)
    make_target(tmp_path / "target", n_train=2)
    data = replace(_data(tmp_path, source="gta5"),
                   gta5=replace(BASE.gta5, raw_root=str(tmp_path / "gta5"), image_size=(16, 32)))
    prepare_domain(data, "target", tmp_path / "p/target", workers=1)
    target = PreparedDataset(tmp_path / "p/target", "train")
    assert target.protocol.name == "cityscapes19" and not target.labelled
    assert "classes" not in read_meta(tmp_path / "p/target")  # a built-in protocol: its name


def test_class_map_with_a_builtin_protocol_for_gta5_to_own_labelled_images(tmp_path):
    make_target(tmp_path / "target", n_train=2, n_val=2)
    (tmp_path / "cs.yaml").write_text(
        "protocol: cityscapes19\ncolors:\n" + "".join(
            f"  {name}: {list(color)}\n" for name, color in zip(
                ("road", "building", "sky", "car", "person"), TARGET_COLORS)))
    data = _data(tmp_path, source="gta5", class_map=str(tmp_path / "cs.yaml"))
    prepare_domain(data, "target", tmp_path / "p/target", workers=1)
    val = PreparedDataset(tmp_path / "p/target", "val")
    assert val.protocol.name == "cityscapes19"
    assert set(np.unique(val.read_arrays(0)[1])) <= {0, 2, 10, 11, 13}  # road .. person


@pytest.mark.parametrize("setup, message", [
    ("target_classes", r"class spaces do not match: data\.folder\.target\.class_map .* lists "
                       r"\['ground', 'wall', 'sky', 'box', 'human'\], data\.folder\.source\.class_map"),
    ("gta5_no_map", r"data\.folder\.target\.class_map is empty but .*target has labels"),
    ("no_source_labels", r"data\.folder\.source\.root: .*source has no labels/ folder"),
    ("unknown_value", r"label .*labels/s000\.png: value 1000 \(and 4 more\) is not in the class map"),
    ("size_mismatch", r"folder: image .*s000\.png is 64x32 but label .*s000\.png is 32x16"),
])
def test_bad_own_data_is_refused_naming_the_culprit(tmp_path, setup, message):
    import cv2

    make_source(tmp_path / "source", n=2)
    make_target(tmp_path / "target", n_train=2, n_val=1)
    write_class_map(tmp_path / "classes.yaml")
    options, source, domain = {}, "folder", "source"
    if setup == "target_classes":
        (tmp_path / "t.yaml").write_text("name: blocks5\nclasses: [ground, wall, sky, box, human]\n")
        options, domain = {"class_map": str(tmp_path / "t.yaml")}, "target"
    elif setup == "gta5_no_map":
        source, domain = "gta5", "target"
    elif setup == "no_source_labels":
        for label in (tmp_path / "source/labels").iterdir():
            label.unlink()
        (tmp_path / "source/labels").rmdir()
    elif setup == "unknown_value":
        write_class_map(tmp_path / "classes.yaml", extra={"values": {"ground": 1}})
    elif setup == "size_mismatch":
        cv2.imwrite(str(tmp_path / "source/labels/s000.png"),
                    np.full((16, 32), VALUES[0], np.uint16))
    data = _data(tmp_path, source=source, **options)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        prepare_domain(data, domain, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_images_of_different_sizes_are_resized_and_mismatched_labels_follow_the_policy(tmp_path):
    import cv2

    make_source(tmp_path / "source", n=2)
    write_class_map(tmp_path / "classes.yaml")
    cv2.imwrite(str(tmp_path / "source/labels/s000.png"), np.full((16, 32), VALUES[2], np.uint16))
    data = _data(tmp_path)
    for policy, count in (("skip", 1), ("resize", 2)):
        folder = replace(data.folder, source=replace(data.folder.source, on_size_mismatch=policy))
        prepare_domain(replace(data, folder=folder), "source", tmp_path / policy, workers=1)
        assert len(PreparedDataset(tmp_path / policy, "train")) == count


# --------------------------------------------------------------------------- fingerprint

def test_input_fingerprint_follows_the_files_and_the_class_map(tmp_path):
    make_source(tmp_path / "source", n=2)
    make_target(tmp_path / "target", n_train=2)
    write_class_map(tmp_path / "classes.yaml")
    data = _data(tmp_path)
    first = input_fingerprint(data, "source")
    assert first["kind"] == "folder" and first["samples"] == 2
    assert input_fingerprint(data, "source") == first
    write_class_map(tmp_path / "classes.yaml", SOURCE_COLORS, extra={"ignore": {"values": [0, 9]}})
    second = input_fingerprint(data, "source")
    assert second["fingerprint"] != first["fingerprint"]
    _images(tmp_path / "target/images", ["new"], size=(32, 64))
    assert input_fingerprint(data, "target")["samples"] == 3
    assert input_fingerprint(BASE, "source") == {"kind": "synthetic"}  # nothing read: constant
