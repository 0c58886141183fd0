"""The dataset-kind registry: a kind registered once is prepared, found, fetched and offered
by the tools; the built-in entries are consistent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from advent.data import registry
from advent.data.download import fetch_dataset
from advent.data.labels import get_protocol
from advent.data.layouts import RawSample
from advent.data.prepared import PreparedDataset, read_meta
from advent.data.raw import prepare
from advent.data.readers import RawDataError, read_index_label
from advent.data.registry import KINDS, DatasetKind, get_kind


def _toy_samples(root: Path, query: registry.SampleQuery) -> list[RawSample]:
    return [RawSample("train", p.stem, p, root / "ann" / p.name)
            for p in sorted((root / "img").glob("*.png"))]


def _toy_table() -> np.ndarray:
    table = np.full(256, 255, np.uint8)
    table[10:13] = [2, 0, 1]  # raw ids 10, 11, 12 -> train ids 2, 0, 1
    return table


#: A kind the user brings: no download source, one split, one protocol.
TOY = DatasetKind(name="toy", title="toy folders", layout="<root>/img/X.png and <root>/ann/X.png",
                  markers=("img", "ann"), list_samples=_toy_samples, read_label=read_index_label,
                  label_tables={"cityscapes19": _toy_table})


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setitem(KINDS, "toy", TOY)
    rng = np.random.default_rng(0)
    labels = {}
    for name in ("a", "b"):
        (tmp_path / "wrap/toy/img").mkdir(parents=True, exist_ok=True)
        (tmp_path / "wrap/toy/ann").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).save(
            tmp_path / f"wrap/toy/img/{name}.png")
        labels[name] = rng.choice(np.array([10, 11, 12, 99], np.uint8), (6, 8))
        Image.fromarray(labels[name]).save(tmp_path / f"wrap/toy/ann/{name}.png")
    return labels


def test_a_kind_registered_once_is_prepared_found_and_fetched(tmp_path, toy):
    root = fetch_dataset("toy", tmp_path / "dl", existing=tmp_path / "wrap")
    assert root == tmp_path / "wrap/toy"  # found by its marker folders, one level down
    result = prepare("toy", root, tmp_path / "out", (6, 8), workers=1, progress=False)
    assert result.counts == {"train": 2}
    assert read_meta(tmp_path / "out")["source"]["dataset"] == "toy"
    ds = PreparedDataset(tmp_path / "out", "train")
    for i, name in enumerate(ds.ids):
        want = np.select([toy[name] == 10, toy[name] == 11, toy[name] == 12], [2, 0, 1], 255)
        np.testing.assert_array_equal(ds.read_arrays(i)[1], want)
    with pytest.raises(ValueError, match="toy: there is nothing to download"):
        fetch_dataset("toy", tmp_path / "dl")
    assert not (tmp_path / "dl").exists()


def test_tools_offer_registered_kinds(toy):
    from advent.tools.download import build_parser as download_parser
    from advent.tools.prepare_raw import build_parser as prepare_parser

    text = prepare_parser().format_help()
    assert "toy: <root>/img/X.png" in text
    assert prepare_parser().parse_args(["--dataset", "toy", "--raw-root", "r", "--out", "o",
                                        "--image-size", "8", "8"]).dataset == "toy"
    with pytest.raises(SystemExit):  # no download source: not offered for download
        download_parser().parse_args(["--dataset", "toy", "--dest", "d"])


def test_query_checks_options_against_the_kind(toy):
    assert get_kind("toy").query().splits == ("train",)
    with pytest.raises(ValueError, match="toy: splits must be among train; got \\['val'\\]"):
        get_kind("toy").query(splits=["val"])
    with pytest.raises(ValueError, match="toy: list_file is not supported"):
        get_kind("toy").query(list_file="ids.txt")
    cityscapes = get_kind("cityscapes")
    assert cityscapes.query(val_count=3).splits == ("train", "val", "test")
    assert cityscapes.query(val_count=0).splits == ("train", "test")
    assert cityscapes.query(splits=["test"]).splits == ("test",)
    with pytest.raises(ValueError, match="unknown dataset kind 'kitti'; known: .*'toy'"):
        get_kind("kitti")


@pytest.mark.parametrize("name", ["gta5", "synthia", "cityscapes"])
def test_builtin_kinds_are_consistent(name):
    kind = get_kind(name)
    assert kind.name == name and kind.markers and kind.source is not None
    assert kind.default_protocol == kind.protocols[0]
    for protocol in kind.protocols:
        table = kind.label_table(protocol)
        assert table.dtype == np.uint8 and len(table) in (256, 1 << 16)
        used = set(np.unique(table)) - {255}
        assert used and max(used) < get_protocol(protocol).num_classes
    with pytest.raises(RawDataError, match=f"{name}: raw data folder /nonexistent/raw not found"):
        kind.find_root("/nonexistent/raw")
