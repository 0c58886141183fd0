import numpy as np
import pytest

from advent.data.prepared import PreparedDataset, PreparedWriter, class_histogram
from advent.io import atomic_path


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
