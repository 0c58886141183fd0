"""Raw GTA5 / Cityscapes / SYNTHIA layouts -> prepared datasets, on tiny generated fixtures."""
from __future__ import annotations

import json
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from advent.data.labels import (CITYSCAPES19_TO_SYNTHIA16, CITYSCAPES_LABEL_ID_TO_TRAIN_ID,
                                SYNTHIA_ID_TO_TRAIN_ID_16)
from advent.data.prepared import PreparedDataset, read_meta
from advent.data.layouts import list_cityscapes
from advent.data.raw import prepare
from advent.data.readers import RawDataError, read_index_label, read_synthia_label
from advent.data.registry import find_raw_root, label_table
from tests.fixtures_raw import make_cityscapes, make_gta5, make_synthia, write_png16_rgb

OUT_HW = (12, 18)  # non-square and not a multiple of the input: catches H/W swaps


def expected_ids(raw: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Mapping done the slow obvious way (independent of the lookup-table code)."""
    out = np.full(raw.shape, 255, dtype=np.uint8)
    for src, dst in mapping.items():
        out[raw == src] = dst
    return out


def resize(array: np.ndarray, hw: tuple[int, int], method) -> np.ndarray:
    return np.asarray(Image.fromarray(array).resize((hw[1], hw[0]), method))


def by_id(ds: PreparedDataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {ds.ids[i]: ds.read_arrays(i) for i in range(len(ds))}


# --------------------------------------------------------------------------- GTA5

def test_gta5_reads_palette_indices_maps_and_resizes(tmp_path):
    raw = make_gta5(tmp_path / "gta5", n=3)
    # the fixture's labels really are palette PNGs whose colours are not the ids
    with Image.open(tmp_path / "gta5/labels/00001.png") as im:
        assert im.mode == "P"
        assert not np.array_equal(np.asarray(im.convert("RGB"))[..., 0], raw["00001"][1])
    result = prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, workers=1,
                     progress=False)
    assert result.counts == {"train": 3} and not result.skipped
    ds = PreparedDataset(tmp_path / "out", "train")
    assert ds.protocol.name == "cityscapes19" and ds.image_size == OUT_HW
    got = by_id(ds)
    assert sorted(got) == ["00001", "00002", "00003"]
    for sample_id, (image, label) in raw.items():
        g_image, g_label = got[sample_id]
        assert g_image.shape == (*OUT_HW, 3) and g_label.shape == OUT_HW
        np.testing.assert_array_equal(g_image, resize(image, OUT_HW, Image.BICUBIC))
        assert not np.array_equal(g_image, resize(image, OUT_HW, Image.BILINEAR))
        np.testing.assert_array_equal(
            g_label, resize(expected_ids(label, CITYSCAPES_LABEL_ID_TO_TRAIN_ID), OUT_HW,
                            Image.NEAREST))
    all_labels = np.concatenate([l.ravel() for _, l in got.values()])
    assert set(np.unique(all_labels)) <= set(range(19)) | {255}
    assert 255 in all_labels and 0 in all_labels  # ids 0/34/200 ignored, 7 -> road


def test_gta5_list_file_selects_samples(tmp_path):
    make_gta5(tmp_path / "gta5", n=3)
    (tmp_path / "list.txt").write_text("00003.png\n# comment\n00001\n")
    result = prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, workers=1,
                     list_file=tmp_path / "list.txt", progress=False)
    assert result.counts == {"train": 2}
    assert PreparedDataset(tmp_path / "out", "train").ids == ["00003", "00001"]


def test_parallel_workers_give_identical_shards(tmp_path):
    make_gta5(tmp_path / "gta5", n=6)
    prepare("gta5", tmp_path / "gta5", tmp_path / "one", OUT_HW, workers=1, progress=False)
    prepare("gta5", tmp_path / "gta5", tmp_path / "two", OUT_HW, workers=2, progress=False)

    def members(root):
        with tarfile.open(root / "train-00000.tar") as tar:
            return [(m.name, tar.extractfile(m).read()) for m in tar]
    assert members(tmp_path / "one") == members(tmp_path / "two")


def test_rerun_with_same_inputs_does_no_work(tmp_path):
    make_gta5(tmp_path / "gta5", n=2)
    first = prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, workers=1,
                    progress=False)
    stamp = (tmp_path / "out/meta.json").stat().st_mtime_ns
    again = prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, workers=1,
                    progress=False)
    assert not first.skipped and again.skipped and again.counts == {"train": 2}
    assert (tmp_path / "out/meta.json").stat().st_mtime_ns == stamp
    # other arguments -> redone
    other = prepare("gta5", tmp_path / "gta5", tmp_path / "out", (8, 8), workers=1,
                    progress=False)
    assert not other.skipped and read_meta(tmp_path / "out")["image_size"] == [8, 8]
    # a changed input file -> redone
    label = tmp_path / "gta5/labels/00002.png"
    os.utime(label, ns=(label.stat().st_atime_ns, label.stat().st_mtime_ns + 10**9))
    assert not prepare("gta5", tmp_path / "gta5", tmp_path / "out", (8, 8), workers=1,
                       progress=False).skipped


# --------------------------------------------------------------------------- errors

def test_missing_root_and_layout_errors_name_the_layout(tmp_path):
    with pytest.raises(RawDataError, match=r"images/NNNNN.png"):
        prepare("gta5", tmp_path / "nowhere", tmp_path / "out", OUT_HW, progress=False)
    (tmp_path / "gta5/images").mkdir(parents=True)
    with pytest.raises(RawDataError, match=r"missing folder .*gta5/labels"):
        prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, progress=False)
    with pytest.raises(RawDataError, match="no raw layout found"):
        find_raw_root("synthia", tmp_path)


def test_missing_cityscapes_split_names_the_path(tmp_path):
    make_cityscapes(tmp_path / "cs", n_train=3, n_val=2)
    for f in (tmp_path / "cs/gtFine/val").rglob("*"):
        if f.is_file():
            f.unlink()
    for d in sorted((tmp_path / "cs/gtFine/val").rglob("*"), reverse=True):
        d.rmdir()
    (tmp_path / "cs/gtFine/val").rmdir()
    with pytest.raises(RawDataError, match=r"missing folder .*gtFine/val"):
        prepare("cityscapes", tmp_path / "cs", tmp_path / "out", OUT_HW, val_count=1,
                progress=False)
    # only the splits that need official train still work
    result = prepare("cityscapes", tmp_path / "cs", tmp_path / "out", OUT_HW, val_count=1,
                     splits=("train", "val"), workers=1, progress=False)
    assert result.counts == {"train": 2, "val": 1}


def test_image_without_label_names_both(tmp_path):
    make_gta5(tmp_path / "gta5", n=2)
    (tmp_path / "gta5/labels/00002.png").unlink()
    with pytest.raises(RawDataError,
                       match=r"images/00002.png has no label: expected .*labels/00002.png"):
        prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, progress=False)


def test_truncated_image_names_the_file_and_leaves_no_output(tmp_path):
    make_gta5(tmp_path / "gta5", n=3)
    bad = tmp_path / "gta5/images/00002.png"
    bad.write_bytes(bad.read_bytes()[:60])
    for workers in (1, 2):
        with pytest.raises(RawDataError, match=r"cannot decode image .*images/00002.png"):
            prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, workers=workers,
                    progress=False)
    assert not (tmp_path / "out").exists()


def test_size_mismatch_error_skip_resize(tmp_path):
    make_gta5(tmp_path / "gta5", n=3)
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(tmp_path / "gta5/images/00002.png")
    with pytest.raises(RawDataError,
                       match=r"images/00002.png is 7x5 but label .*labels/00002.png is 32x20"):
        prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, workers=1, progress=False)
    skip = prepare("gta5", tmp_path / "gta5", tmp_path / "out", OUT_HW, workers=1,
                   on_size_mismatch="skip", progress=False)
    assert skip.counts == {"train": 2} and skip.skipped_samples == ["train/00002"]
    assert read_meta(tmp_path / "out")["skipped_samples"] == ["train/00002"]
    res = prepare("gta5", tmp_path / "gta5", tmp_path / "out2", OUT_HW, workers=1,
                  on_size_mismatch="resize", progress=False)
    assert res.counts == {"train": 3}


def test_protocol_checks(tmp_path):
    with pytest.raises(ValueError, match="only protocol 'cityscapes19'"):
        label_table("gta5", "synthia16")
    with pytest.raises(ValueError, match="only protocol 'synthia16'"):
        label_table("synthia", "cityscapes19")
    with pytest.raises(ValueError, match="unknown label protocol"):
        label_table("cityscapes", "nope")


# --------------------------------------------------------------------------- Cityscapes

def test_cityscapes_splits_holdout_and_ignored_siblings(tmp_path):
    raw = make_cityscapes(tmp_path / "cs", n_train=6, n_val=3)
    assert any(p.name.endswith("_polygons.json") for p in (tmp_path / "cs").rglob("*"))
    result = prepare("cityscapes", tmp_path / "cs", tmp_path / "out", OUT_HW, val_count=2,
                     seed=5, workers=2, progress=False)
    assert result.counts == {"train": 4, "val": 2, "test": 3}
    train = set(PreparedDataset(tmp_path / "out", "train").ids)
    val = set(PreparedDataset(tmp_path / "out", "val").ids)
    test = PreparedDataset(tmp_path / "out", "test")
    assert train.isdisjoint(val) and train | val == set(raw["train"])
    assert set(test.ids) == set(raw["val"])  # official val is our test
    for name, (image, label) in by_id(test).items():
        np.testing.assert_array_equal(label, resize(expected_ids(raw["val"][name][1],
                                                    CITYSCAPES_LABEL_ID_TO_TRAIN_ID),
                                                    OUT_HW, Image.NEAREST))
    # the hold-out is a function of (files, seed): same seed same subset, other seed differs
    same = {s.sample_id for s in list_cityscapes(tmp_path / "cs", 2, 5) if s.split == "val"}
    assert same == val
    others = [{s.sample_id for s in list_cityscapes(tmp_path / "cs", 2, seed) if s.split == "val"}
              for seed in range(6, 12)]
    assert any(o != val for o in others)


def test_cityscapes_in_synthia16_space(tmp_path):
    raw = make_cityscapes(tmp_path / "cs", n_train=3, n_val=2)
    prepare("cityscapes", tmp_path / "cs", tmp_path / "out", OUT_HW, protocol="synthia16",
            val_count=1, splits=("test",), workers=1, progress=False)
    ds = PreparedDataset(tmp_path / "out", "test")
    assert ds.protocol.name == "synthia16"
    assert read_meta(tmp_path / "out")["splits"].keys() == {"test"}
    composed = {lid: CITYSCAPES19_TO_SYNTHIA16[t] for lid, t in
                CITYSCAPES_LABEL_ID_TO_TRAIN_ID.items() if t in CITYSCAPES19_TO_SYNTHIA16}
    assert 22 not in composed and composed[7] == 0 and composed[21] == 8  # terrain dropped
    for name, (_, label) in by_id(ds).items():
        np.testing.assert_array_equal(
            label, resize(expected_ids(raw["val"][name][1], composed), OUT_HW, Image.NEAREST))


def test_cityscapes_test_labels_at_full_resolution(tmp_path):
    """test_label_size = the raw size: test labels are the raw labels mapped, never
    resized; images (all splits) and train/val labels are resized to image_size."""
    raw = make_cityscapes(tmp_path / "cs", n_train=4, n_val=2, size=(16, 32))
    prepare("cityscapes", tmp_path / "cs", tmp_path / "out", OUT_HW, val_count=1,
            test_label_size=(16, 32), workers=2, progress=False)
    test = PreparedDataset(tmp_path / "out", "test")
    assert test.image_size == OUT_HW and test.label_size == (16, 32)
    for name, (image, label) in by_id(test).items():
        np.testing.assert_array_equal(image, resize(raw["val"][name][0], OUT_HW, Image.BICUBIC))
        np.testing.assert_array_equal(label, expected_ids(raw["val"][name][1],
                                                          CITYSCAPES_LABEL_ID_TO_TRAIN_ID))
    for split in ("train", "val"):
        for name, (_, label) in by_id(PreparedDataset(tmp_path / "out", split)).items():
            np.testing.assert_array_equal(label, resize(expected_ids(raw["train"][name][1],
                                                        CITYSCAPES_LABEL_ID_TO_TRAIN_ID),
                                                        OUT_HW, Image.NEAREST))
    splits = read_meta(tmp_path / "out")["splits"]
    assert splits["test"]["label_size"] == [16, 32]
    assert "label_size" not in splits["train"] and "label_size" not in splits["val"]
    # the option is part of the fingerprint: without it the same call prepares again, and
    # writes no label_size at all (the format of a dataset prepared before the option)
    again = prepare("cityscapes", tmp_path / "cs", tmp_path / "out", OUT_HW, val_count=1,
                    workers=1, progress=False)
    assert not again.skipped
    assert all("label_size" not in info for info in read_meta(tmp_path / "out")["splits"].values())
    assert "test_label_size" not in read_meta(tmp_path / "out")["source"]
    make_gta5(tmp_path / "gta5", n=1)
    with pytest.raises(ValueError, match=r"gta5: test_label_size needs a test split, and gta5 prepares only \[.train.\]"):
        prepare("gta5", tmp_path / "gta5", tmp_path / "g", OUT_HW, test_label_size=(16, 32),
                progress=False)


def test_cityscapes_table_matches_cityscapesscripts():
    labels_mod = pytest.importorskip("cityscapesscripts.helpers.labels")
    theirs = {l.id: l.trainId for l in labels_mod.labels if l.id >= 0}
    table = label_table("cityscapes", "cityscapes19")
    for label_id, train_id in theirs.items():
        want = train_id if 0 <= train_id < 19 else 255
        assert table[label_id] == want, (label_id, train_id)


# --------------------------------------------------------------------------- SYNTHIA

def test_synthia_16bit_first_channel(tmp_path):
    pytest.importorskip("cv2", reason="SYNTHIA labels need opencv-python-headless")
    arr = np.zeros((2, 3, 3), np.uint16)
    arr[..., 0] = [[3, 259, 21], [1, 4, 65535]]   # class ids (first channel)
    arr[..., 1] = 1234                              # instance ids: must not be read
    write_png16_rgb(tmp_path / "l.png", arr)
    with Image.open(tmp_path / "l.png") as im:     # Pillow's 8-bit view is wrong
        assert not np.array_equal(np.asarray(im)[..., 0], arr[..., 0])
    got = read_synthia_label(tmp_path / "l.png")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, arr[..., 0])


def test_synthia_prepare_maps_16bit_ids(tmp_path):
    pytest.importorskip("cv2", reason="SYNTHIA labels need opencv-python-headless")
    raw = make_synthia(tmp_path / "syn", n=3)
    prepare("synthia", tmp_path / "syn", tmp_path / "out", OUT_HW, workers=2, progress=False)
    ds = PreparedDataset(tmp_path / "out", "train")
    assert ds.protocol.name == "synthia16" and len(ds) == 3
    for sample_id, (image, label) in by_id(ds).items():
        raw_image, ids = raw[sample_id]
        want = resize(expected_ids(ids, SYNTHIA_ID_TO_TRAIN_ID_16), OUT_HW, Image.NEAREST)
        np.testing.assert_array_equal(label, want)
        np.testing.assert_array_equal(image, resize(raw_image, OUT_HW, Image.BICUBIC))
    # id 259 (low byte 3 = road, high byte 1 = sky) must be ignored, not road or sky
    ids = raw["0000000"][1]
    mapped = expected_ids(ids, SYNTHIA_ID_TO_TRAIN_ID_16)
    assert (mapped[ids == 259] == 255).all() and (ids == 259).any()


def test_synthia_truncated_label_names_the_file(tmp_path):
    pytest.importorskip("cv2", reason="SYNTHIA labels need opencv-python-headless")
    make_synthia(tmp_path / "syn", n=2)
    bad = tmp_path / "syn/GT/LABELS/0000001.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(RawDataError, match=r"cannot decode label .*LABELS/0000001.png"):
        prepare("synthia", tmp_path / "syn", tmp_path / "out", OUT_HW, workers=1,
                progress=False)


def test_index_label_refuses_rgb_labels(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(RawDataError, match="expected a palette or greyscale PNG"):
        read_index_label(tmp_path / "rgb.png")


# --------------------------------------------------------------------------- CLI

def test_prepare_cli(tmp_path, capsys):
    from advent.tools.prepare_raw import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--raw-root" in capsys.readouterr().out
    make_gta5(tmp_path / "gta5", n=2)
    argv = ["--dataset", "gta5", "--raw-root", str(tmp_path / "gta5"), "--out",
            str(tmp_path / "out"), "--image-size", "6", "10", "--workers", "1", "--quiet"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["counts"] == {"train": 2} and summary["skipped"] is False
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["skipped"] is True
    assert PreparedDataset(tmp_path / "out", "train").image_size == (6, 10)

