"""Class-map files (advent.data.classmap): parsing, the palette, decoding 8-bit, 16-bit,
colour and palette labels, and one clear error for every mistake."""
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from advent.data.classmap import default_color, load_class_map
from advent.data.labels import (CITYSCAPES_CLASSES, MAX_CLASSES, get_protocol, protocol_from_record,
                                protocol_record)
from advent.data.readers import RawDataError


def _map(tmp_path: Path, data, name: str = "classes.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


BASIC = {"name": "street", "classes": ["road", {"name": "car", "color": [1, 2, 3]}, "sky"],
         "values": {"road": [7, 300], "car": 26},
         "colors": {"road": [128, 64, 128], "sky": [[70, 130, 180], [71, 130, 180]]},
         "ignore": {"values": [0], "colors": [[0, 0, 0]]}}


def test_classes_palette_and_protocol_record(tmp_path):
    cmap = load_class_map(_map(tmp_path, BASIC))
    protocol = cmap.protocol
    assert protocol.name == "street" and protocol.class_names == ("road", "car", "sky")
    # colour: its own, else its first label colour, else the fixed palette
    assert protocol.palette.tolist() == [[128, 64, 128], [1, 2, 3], [70, 130, 180]]
    assert protocol_from_record(protocol_record(protocol)) == protocol
    no_colours = load_class_map(_map(tmp_path, {"classes": ["a", "b"], "values": {"a": 1}}, "x.yaml"))
    assert no_colours.protocol.name == "x"  # the file's stem
    assert no_colours.protocol.palette.tolist() == [list(default_color(0)), list(default_color(1))]
    assert len({default_color(i) for i in range(MAX_CLASSES)}) == MAX_CLASSES


def test_builtin_protocol_named_instead_of_classes(tmp_path):
    cmap = load_class_map(_map(tmp_path, {"protocol": "cityscapes19", "values": {"road": 7, "car": 26},
                                          "ignore": {"unlisted": True}}))
    assert cmap.protocol == get_protocol("cityscapes19")
    assert protocol_record(cmap.protocol) == {"protocol": "cityscapes19"}  # known by name
    raw = np.array([[7, 26, 99]], np.uint8)
    np.testing.assert_array_equal(cmap.decode(raw, "x.png"),
                                  [[0, CITYSCAPES_CLASSES.index("car"), 255]])


def test_decodes_8_and_16_bit_values_colours_and_palette_labels(tmp_path):
    cmap = load_class_map(_map(tmp_path, BASIC))
    values = np.array([[7, 300, 26, 0]], np.uint16)
    cv2.imwrite(str(tmp_path / "l16.png"), values)
    np.testing.assert_array_equal(cmap.read_label(tmp_path / "l16.png"), [[0, 0, 1, 255]])
    Image.fromarray(np.array([[26, 7, 0]], np.uint8)).save(tmp_path / "l8.png")
    np.testing.assert_array_equal(cmap.read_label(tmp_path / "l8.png"), [[1, 0, 255]])
    rgb = np.array([[[128, 64, 128], [71, 130, 180], [0, 0, 0]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(cmap.read_label(tmp_path / "rgb.png"), [[0, 2, 255]])
    # a palette PNG is read by its indices when the map gives values ...
    Image.fromarray(np.array([[7, 26]], np.uint8)).convert("P").save(tmp_path / "p.png")
    np.testing.assert_array_equal(cmap.read_label(tmp_path / "p.png"), [[0, 1]])
    # ... and by its colours when it gives only colours
    colours_only = load_class_map(_map(tmp_path, {**BASIC, "values": {}, "ignore": {"colors": [[0, 0, 0]]}},
                                       "c.yaml"))
    indexed = Image.fromarray(np.array([[0, 1, 2]], np.uint8), "P")
    indexed.putpalette([128, 64, 128, 71, 130, 180, 0, 0, 0])
    indexed.save(tmp_path / "prgb.png")
    np.testing.assert_array_equal(colours_only.read_label(tmp_path / "prgb.png"), [[0, 2, 255]])


@pytest.mark.parametrize("raw, culprit", [
    (np.array([[7, 5, 9]], np.uint8), "value 5 (and 1 more)"),
    (np.array([[[128, 64, 128], [9, 9, 9]]], np.uint8), "colour [9, 9, 9]"),
])
def test_a_label_value_or_colour_not_in_the_map_names_file_and_value(tmp_path, raw, culprit):
    cmap = load_class_map(_map(tmp_path, BASIC))
    with pytest.raises(RawDataError, match=rf"label lab\.png: {re.escape(culprit)} "
                                           rf"is not in the class map .*classes\.yaml"):
        cmap.decode(raw, "lab.png")
    unlisted = load_class_map(_map(tmp_path, {**BASIC, "ignore": {"unlisted": True}}, "u.yaml"))
    assert (unlisted.decode(raw, "lab.png") == 255).any()


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "classes": []}, "no classes"),
    ({"name": "x"}, "no classes"),
    ({"classes": ["a", "a"]}, "class 'a' is listed twice"),
    ({"classes": ["a", "b"], "values": {"a": 1, "b": 1}}, "values: value 1 is listed for both 'a' and 'b'"),
    ({"classes": ["a", "b"], "colors": {"a": [1, 2, 3], "b": [[4, 5, 6], [1, 2, 3]]}},
     r"colors: colour \[1, 2, 3\] is listed for both 'a' and 'b'"),
    ({"classes": ["a"], "values": {"a": 1}, "ignore": {"values": [1]}},
     "value 1 is listed both for 'a' and under ignore"),
    ({"classes": ["a"], "values": {"b": 1}}, "values: 'b' is not one of the classes"),
    ({"classes": ["a"], "values": {"a": 70000}}, "a label value is an integer in 0..65535"),
    ({"classes": ["a"], "colors": {"a": [1, 2]}}, "a colour is 3 integers in 0..255"),
    ({"classes": [f"c{i}" for i in range(256)]}, "256 classes, more than the 255"),
    ({"protocol": "cityscapes19", "classes": ["a"]}, "either protocol .* or name and classes"),
    ({"protocol": "kitti"}, "unknown label protocol 'kitti'"),
    ({"name": "cityscapes19", "classes": ["a"]}, "'cityscapes19' is a built-in protocol's name"),
    ({"classes": ["a"], "palette": {}}, "unknown key 'palette'"),
    ("classes: [a]\nvalues:\n  a: 1\n  a: 2\n", "duplicate key 'a'"),
    ("- a\n- b\n", "a class map is a mapping"),
])
def test_a_bad_class_map_is_refused_naming_the_file(tmp_path, data, message):
    path = _map(tmp_path, data, "bad.yaml")
    with pytest.raises(ValueError, match=rf"bad\.yaml.*{message}"):
        load_class_map(path)


def test_label_files_that_cannot_be_labels_are_refused(tmp_path):
    cmap = load_class_map(_map(tmp_path, BASIC))
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "lab.jpg")
    with pytest.raises(RawDataError, match=r"lab\.jpg: labels must be PNG files, got JPEG"):
        cmap.read_label(tmp_path / "lab.jpg")
    cv2.imwrite(str(tmp_path / "c16.png"), np.zeros((2, 2, 3), np.uint16))
    with pytest.raises(RawDataError, match=r"c16\.png: expected an 8- or 16-bit single-channel "
                                           r"PNG or an 8-bit colour PNG, got 3 channel"):
        cmap.read_label(tmp_path / "c16.png")
    with pytest.raises(FileNotFoundError, match="class map not found: .*nothere.yaml"):
        load_class_map(tmp_path / "nothere.yaml")
