"""The procedural benchmark exported to plain folders and read back through the folder
kind gives the same prepared data, bit for bit, as the built-in path: the folder kind
adds nothing and loses nothing (images, labels, sample ids, order, shards)."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from advent.data.domains import prepare_domain
from advent.data.labels import CITYSCAPES_CLASSES, IGNORE_INDEX
from advent.data.prepared import PreparedDataset, read_meta
from advent.params import FolderConfig, FolderSourceConfig, FolderTargetConfig, load_params

ROOT = Path(__file__).resolve().parent.parent


def _export(prepared: Path, root: Path, splits: dict[str, str]) -> None:
    """Every sample of ``prepared`` as ``<root>/<folder>/images|labels/<id>.png``."""
    for split, folder in splits.items():
        dataset = PreparedDataset(prepared, split)
        for sub in ("images", "labels"):
            (root / folder / sub).mkdir(parents=True)
        for i, sample_id in enumerate(dataset.ids):
            image, label = dataset.read_arrays(i)
            Image.fromarray(image).save(root / folder / "images" / f"{sample_id}.png")
            Image.fromarray(label).save(root / folder / "labels" / f"{sample_id}.png")


def test_synthetic_exported_to_folders_prepares_bit_for_bit_the_same(tmp_path):
    base = load_params(ROOT / "params.yaml").data
    data = replace(base, synthetic=replace(base.synthetic, height=24, width=40, source_train=5,
                                           target_train=4, target_val=3, target_test=3))
    built_in = {d: tmp_path / "built-in" / d for d in ("source", "target")}
    for domain, out in built_in.items():
        prepare_domain(data, domain, out)
    _export(built_in["source"], tmp_path / "own/source", {"train": ""})
    _export(built_in["target"], tmp_path / "own/target", {"train": "", "val": "val", "test": "test"})
    # The class map of train ids as they are: the 19 Cityscapes classes, 255 ignored.
    (tmp_path / "classes.yaml").write_text(yaml.safe_dump({
        "protocol": "cityscapes19", "values": {n: i for i, n in enumerate(CITYSCAPES_CLASSES)},
        "ignore": {"values": [IGNORE_INDEX]}}))
    folder = FolderConfig(
        FolderSourceConfig(str(tmp_path / "own/source"), str(tmp_path / "classes.yaml"), (24, 40)),
        FolderTargetConfig(str(tmp_path / "own/target"), "", (24, 40)))
    own = replace(data, source="folder", target="folder", folder=folder)
    via_folders = {d: tmp_path / "folders" / d for d in ("source", "target")}
    for domain, out in via_folders.items():
        prepare_domain(own, domain, out, workers=2)

    for domain in ("source", "target"):
        a, b = read_meta(built_in[domain]), read_meta(via_folders[domain])
        assert {k: a[k] for k in ("protocol", "image_size", "splits")} == \
               {k: b[k] for k in ("protocol", "image_size", "splits")}
        assert "classes" not in b  # a built-in protocol, named
        shards = [s for info in a["splits"].values() for s in info["shards"]]
        assert shards
        for shard in shards:
            assert (built_in[domain] / shard).read_bytes() == (via_folders[domain] / shard).read_bytes()
    # the comparison is of real scenes: several classes in a label
    labels = PreparedDataset(via_folders["target"], "test").read_arrays(0)[1]
    assert len(np.unique(labels)) > 3
