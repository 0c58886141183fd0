import numpy as np
import pytest

from advent.data.prepared import (PreparedDataset, PreparedUnion, PreparedWriter, class_histogram,
                                  read_meta)
from advent.io import atomic_path, write_json, write_text


def _sample(rng, h=8, w=12):
    return (rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            rng.integers(0, 19, (h, w), dtype=np.uint8))


def test_roundtrip_across_shards(tmp_path, rng):
    written = {}
    with PreparedWriter(tmp_path / "ds", "toy", "cityscapes19", (8, 12), shard_size=3) as w:
        for i in range(7):
            image, label = _sample(rng)
            label[0, 0] = 255
            w.add("train", f"s{i:02d}", image, label)
            written[f"s{i:02d}"] = (image, label)
        w.add("test", "t0", *_sample(rng))
    ds = PreparedDataset(tmp_path / "ds", "train")
    assert len(ds) == 7 and len(ds.shards) == 3
    for k, sample_id in enumerate(ds.ids):
        image, label, index = ds[k]
        assert index == k
        assert image.shape == (3, 8, 12) and image.dtype.is_floating_point is False
        np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), written[sample_id][0])
        np.testing.assert_array_equal(label.numpy(), written[sample_id][1])
    hist = class_histogram(ds)
    assert hist.sum() == 7 * (8 * 12 - 1)  # ignore pixels excluded


def test_failed_write_leaves_previous_dataset(tmp_path, rng):
    root = tmp_path / "ds"
    with PreparedWriter(root, "toy", "cityscapes19", (8, 12)) as w:
        w.add("train", "a", *_sample(rng))
    with pytest.raises(RuntimeError):
        with PreparedWriter(root, "toy", "cityscapes19", (8, 12)) as w:
            w.add("train", "b", *_sample(rng))
            raise RuntimeError("interrupted")
    assert PreparedDataset(root, "train").ids == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temporary left behind


def test_errors_name_the_path(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing")):
        PreparedDataset(tmp_path / "missing", "train")
    with PreparedWriter(tmp_path / "ds", "toy", "cityscapes19", (8, 12)) as w:
        w.add("train", "a", *_sample(rng))
        with pytest.raises(ValueError, match="duplicate"):
            w.add("train", "a", *_sample(rng))
        with pytest.raises(ValueError, match=r"label must be \(8, 12\)"):
            w.add("train", "b", _sample(rng)[0], np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="no split 'val'"):
        PreparedDataset(tmp_path / "ds", "val")
    with pytest.raises(ValueError, match="no samples"):
        with PreparedWriter(tmp_path / "empty", "toy", "cityscapes19", (8, 12)):
            pass
    assert not (tmp_path / "empty").exists()


def test_split_with_its_own_label_size(tmp_path, rng):
    """Full-resolution evaluation labels: the test split's labels are (16, 24) while every
    image, and the other splits' labels, are (8, 12); meta.json says so for that split only."""
    with PreparedWriter(tmp_path / "ds", "toy", "cityscapes19", (8, 12),
                        label_sizes={"test": (16, 24)}) as w:
        w.add("train", "a", *_sample(rng))
        image, label = _sample(rng)[0], rng.integers(0, 19, (16, 24), dtype=np.uint8)
        w.add("test", "t", image, label)
        with pytest.raises(ValueError, match=r"test/u: label must be \(16, 24\)"):
            w.add("test", "u", *_sample(rng))
        with pytest.raises(ValueError, match=r"train/b: label must be \(8, 12\)"):
            w.add("train", "b", image, label)
    meta = read_meta(tmp_path / "ds")
    assert meta["splits"]["test"]["label_size"] == [16, 24] and "label_size" not in meta["splits"]["train"]
    test = PreparedDataset(tmp_path / "ds", "test")
    assert test.image_size == (8, 12) and test.label_size == (16, 24)
    got_image, got_label, _ = test[0]
    assert got_image.shape == (3, 8, 12) and got_label.shape == (16, 24)
    np.testing.assert_array_equal(got_label.numpy(), label)
    assert PreparedDataset(tmp_path / "ds", "train").label_size == (8, 12)
    # a label of another size than the split declares is refused when read
    meta["splits"]["test"]["label_size"] = [8, 12]
    write_json(tmp_path / "ds" / "meta.json", meta)
    with pytest.raises(ValueError, match=r"test:t: label shape \(16, 24\) is not the split's label_size"):
        PreparedDataset(tmp_path / "ds", "test").read_arrays(0)


def test_corrupt_shard_is_named(tmp_path, rng):
    with PreparedWriter(tmp_path / "ds", "toy", "cityscapes19", (8, 12)) as w:
        w.add("train", "a", *_sample(rng))
    shard = tmp_path / "ds" / "train-00000.tar"
    data = bytearray(shard.read_bytes())
    data[600:700] = b"\x00" * 100  # inside the first member's PNG bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="train:a"):
        PreparedDataset(tmp_path / "ds", "train").read_arrays(0)


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyError
    assert target.read_text() == "old"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_atomic_path_never_puts_a_file_in_place_of_a_folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("kept")
    with pytest.raises(IsADirectoryError) as err:
        write_text(folder, "new")
    assert err.value.filename == str(folder)
    assert (folder / "keep.txt").read_text() == "kept" and sorted(tmp_path.iterdir()) == [folder]
    with atomic_path(folder) as tmp:  # a folder still replaces a folder
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert [f.name for f in folder.iterdir()] == ["new.txt"]


def _toy(root, rng, count, protocol="cityscapes19", size=(8, 12)):
    samples = [_sample(rng, *size) for _ in range(count)]
    with PreparedWriter(root, "toy", protocol, size) as w:
        for i, sample in enumerate(samples):
            w.add("train", f"{root.name}{i}", *sample)
    return PreparedDataset(root, "train"), samples


def test_union_reads_its_parts_in_order(tmp_path, rng):
    """IntraDA's labelled side with intrada.with_source: the source, then the easy split."""
    first, first_samples = _toy(tmp_path / "a", rng, 3)
    second, second_samples = _toy(tmp_path / "b", rng, 2)
    union = PreparedUnion([first, second])
    assert len(union) == 5 and union.root == second.root and union.image_size == (8, 12)
    for k, (image, label) in enumerate(first_samples + second_samples):
        got_image, got_label, _ = union[k]
        np.testing.assert_array_equal(got_image.permute(1, 2, 0).numpy(), image)
        np.testing.assert_array_equal(got_label.numpy(), label)
    np.testing.assert_array_equal(class_histogram(union),
                                  class_histogram(first) + class_histogram(second))


def test_union_refuses_parts_that_cannot_share_a_batch(tmp_path, rng):
    first, _ = _toy(tmp_path / "a", rng, 1)
    other_size, _ = _toy(tmp_path / "b", rng, 1, size=(8, 16))
    with pytest.raises(ValueError, match=rf"{tmp_path / 'a'}.*\(8, 12\).*{tmp_path / 'b'}.*\(8, 16\)"):
        PreparedUnion([first, other_size])
    other_classes, _ = _toy(tmp_path / "c", rng, 1, protocol="synthia16")
    with pytest.raises(ValueError, match="label different classes"):
        PreparedUnion([first, other_classes])
