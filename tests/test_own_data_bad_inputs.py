"""Bad own data, as a user meets it through the stage scripts: every case ends the
prepare stage with a non-zero status, no traceback, a last stderr line naming the file
or the value, and no prepared dataset left behind. The cases that need no decoding (the
folders' listing, the class maps) already stop the fingerprint stage that runs first."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from scripts.own_data_example import TARGET_COLORS, make_example, write_class_map
from tests.stage_runs import (assert_nothing_trusted_left, assert_one_clean_line, file_state,
                              run_script, tiny_params)


def _break(own: Path, case: str) -> str:
    """Make ``case`` true of the example data in ``own``; return the domain it breaks."""
    if case == "image without a label":
        (own / "source/labels/s001.png").unlink()
    elif case == "label value not in the map":
        write_class_map(own / "classes.yaml", extra={"values": {"ground": 1000, "wall": 2000}})
    elif case == "colour not in the map":
        write_class_map(own / "target_classes.yaml", TARGET_COLORS[:4], with_values=False)
        return "target"
    elif case == "duplicate ids in the map":
        write_class_map(own / "classes.yaml", extra={"values": {"ground": 1000, "wall": 1000}})
    elif case == "no classes in the map":
        (own / "classes.yaml").write_text("name: empty\nclasses: []\n")
    elif case == "more classes than 8-bit labels hold":
        (own / "classes.yaml").write_text(yaml.safe_dump({"classes": [f"c{i}" for i in range(300)]}))
    elif case == "empty folder":
        for image in (own / "target/images").iterdir():
            image.unlink()
        return "target"
    elif case == "image and label of different sizes":
        cv2.imwrite(str(own / "source/labels/s000.png"), np.full((8, 8), 1000, np.uint16))
    elif case == "class spaces that do not match":
        (own / "target_classes.yaml").write_text("name: other\nclasses: [a, b]\n")
        return "target"
    return "source"


CASES = {
    "image without a label": r"source/images/s001.jpg has no label: expected .*labels/s001.png",
    "label value not in the map": r"label .*source/labels/s000.png: value 3000 \(and 2 more\) is "
                                  r"not in the class map .*classes.yaml",
    "colour not in the map": r"label .*target/val/labels/val\d+.png: colour \[0, 255, 255\] is not "
                             r"in the class map .*target_classes.yaml",
    "duplicate ids in the map": r"classes.yaml: values: value 1000 is listed for both 'ground' and 'wall'",
    "no classes in the map": r"classes.yaml: no classes",
    "more classes than 8-bit labels hold": r"classes.yaml: 300 classes, more than the 255",
    "empty folder": r"no images \(.png, .jpg, .jpeg\) in .*target/images",
    "image and label of different sizes": r"image .*s000.png is 64x32 but label .*s000.png is 8x8",
    "class spaces that do not match": r"class spaces do not match: data.folder.target.class_map "
                                      r"\(.*target_classes.yaml\) lists \['a', 'b'\]",
}


#: Cases found without decoding a file: the fingerprint stage stops on them too.
FOUND_BY_FINGERPRINT = {"image without a label", "duplicate ids in the map", "no classes in the map",
                        "more classes than 8-bit labels hold", "empty folder",
                        "class spaces that do not match"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_own_data_stops_prepare_with_one_line_naming_it(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    make_example(tmp_path / "data/own", n_source=3, n_target=2, n_val=2, size=(32, 64), n_new=0)
    domain = _break(tmp_path / "data/own", case)
    params = tiny_params(**{"data.source": "folder", "data.target": "folder",
                            "data.folder.target.class_map": "data/own/target_classes.yaml"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stages = (("stages/prepare.py", "--domain", f"data/prepared/{domain}"),)
    if case in FOUND_BY_FINGERPRINT:
        stages = (("stages/fingerprint.py", "--input", f"data/fingerprints/{domain}.json"),) + stages
    for script, domain_flag, out in stages:
        before = file_state(tmp_path)
        run = run_script(script, domain_flag, domain, "--out", out)
        assert_one_clean_line(run)
        assert re.search(CASES[case], run.last_line), run.last_line
        assert_nothing_trusted_left(tmp_path, before)
