"""Decoding raw dataset files: images, and label files as raw label ids.

Every failure raises :class:`RawDataError` naming the file, so a corrupt or truncated
file among 25k is found at once, whichever worker process met it.
"""
from __future__ import annotations

import contextlib
import os
import re
import warnings
from typing import Iterator

import numpy as np
from PIL import Image


class RawDataError(ValueError):
    """The raw data is missing, malformed or inconsistent; the message names the file(s)."""


#: The most pixels a raw image or label may have: 8192 x 8192, sixteen times a GTA5
#: frame. Larger files are refused from their header, before decoding, so a huge (or
#: hostile) file cannot exhaust memory in a worker.
MAX_RAW_PIXELS = 8192 * 8192


class RawFileTooLarge(RawDataError):
    """A raw image or label above :data:`MAX_RAW_PIXELS`."""


def _too_large(what: str, path: str | os.PathLike, size: str) -> RawFileTooLarge:
    return RawFileTooLarge(f"{what} {path} is {size}: more than the {MAX_RAW_PIXELS} pixels "
                        f"(8192 x 8192) a raw file may have; refused before decoding")


@contextlib.contextmanager
def open_checked(path: str | os.PathLike, what: str = "image") -> Iterator[Image.Image]:
    """``Image.open(path)`` (header only) refusing files above :data:`MAX_RAW_PIXELS`;
    errors name the file as ``what``."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above 89M pixels; the check below refuses those files anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as err:  # Pillow's own limit, above ours
        pixels = re.search(r"\((\d+) pixels\)", str(err))
        raise _too_large(what, path, f"{int(pixels.group(1))} pixels" if pixels else "huge") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise RawDataError(f"cannot decode {what} {path}: {err}") from None
    with im:
        width, height = im.size
        if width * height > MAX_RAW_PIXELS:
            raise _too_large(what, path, f"{width} x {height} pixels")
        yield im


def read_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB; a corrupt, truncated or oversized file raises an error naming it."""
    with open_checked(path, "image") as im:
        try:
            im.load()  # decode now: a truncated file fails here, not later
            return np.asarray(im.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as err:
            raise RawDataError(f"cannot decode image {path}: {err}") from None


def read_index_label(path: str | os.PathLike) -> np.ndarray:
    """(H, W) uint8 label ids of a palette (``P``) or greyscale (``L``) PNG.

    For a palette PNG this is the palette *index*; converting to RGB would give colours.
    """
    with open_checked(path, "label") as im:
        try:
            im.load()
        except (OSError, SyntaxError, ValueError) as err:
            raise RawDataError(f"cannot decode label {path}: {err}") from None
        if im.mode not in ("P", "L"):
            raise RawDataError(f"label {path}: expected a palette or greyscale PNG of "
                               f"label ids, got mode {im.mode}")
        return np.asarray(im)


def read_synthia_label(path: str | os.PathLike) -> np.ndarray:
    """(H, W) uint16 SYNTHIA class ids: the first channel of a 16-bit PNG, all 16 bits.

    Pillow would silently read these PNGs as 8-bit, so they go through OpenCV
    (``IMREAD_UNCHANGED`` keeps 16 bits; OpenCV orders channels BGR, so the first PNG
    channel is OpenCV's last).
    """
    try:
        import cv2
    except ImportError:
        raise RuntimeError("reading SYNTHIA labels needs OpenCV (`pip install "
                           "opencv-python-headless`): they are 16-bit PNGs, which Pillow "
                           "silently reads as 8-bit") from None
    try:
        with open_checked(path, "label"):
            pass  # the size, from the header (OpenCV would decode any size)
    except RawFileTooLarge:
        raise
    except RawDataError:
        pass  # a header Pillow cannot parse: OpenCV says below whether it is a PNG
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise RawDataError(f"cannot read label {path}: {err}") from None
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if array is None:
        raise RawDataError(f"cannot decode label {path}: not a readable PNG "
                           f"(corrupt or truncated?)")
    if array.ndim == 3:
        array = array[:, :, 2] if array.shape[2] >= 3 else array[:, :, 0]  # BGR(A): R is 2
    if array.dtype not in (np.uint16, np.uint8):
        raise RawDataError(f"label {path}: unexpected pixel type {array.dtype}")
    return array


def read_raw_label(path: str | os.PathLike, palette_as_rgb: bool = False) -> np.ndarray:
    """A label file of the folder kind as it is stored: (H, W) uint8 or uint16 values of a
    single-channel PNG (8 or 16 bit), or (H, W, 3) uint8 RGB of a colour PNG (alpha
    dropped). A palette PNG gives its indices, or its colours with ``palette_as_rgb``.

    16-bit files go through OpenCV (Pillow would read 16-bit colour PNGs as 8-bit);
    a JPEG, a 16-bit colour PNG or another mode raises an error naming the file.
    """
    with open_checked(path, "label") as im:
        mode, fmt = im.mode, im.format
        if fmt != "PNG":
            found = fmt or "another format"
            raise RawDataError(f"label {path}: labels must be PNG files, got {found} (a lossy "
                               f"format changes label values)")
        if mode == "P":
            try:
                im.load()
            except (OSError, SyntaxError, ValueError) as err:
                raise RawDataError(f"cannot decode label {path}: {err}") from None
            return np.asarray(im.convert("RGB") if palette_as_rgb else im)
    import cv2

    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise RawDataError(f"cannot read label {path}: {err}") from None
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if array is None:
        raise RawDataError(f"cannot decode label {path}: not a readable PNG (corrupt or truncated?)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2 and array.dtype in (np.uint8, np.uint16):
        return array
    if array.ndim == 3 and array.shape[2] in (3, 4) and array.dtype == np.uint8:
        return np.ascontiguousarray(array[:, :, 2::-1])  # OpenCV's BGR(A) -> RGB
    raise RawDataError(f"label {path}: expected an 8- or 16-bit single-channel PNG or an 8-bit "
                       f"colour PNG, got {array.shape[2] if array.ndim == 3 else 1} channel(s) "
                       f"of {array.dtype} (PNG mode {mode})")
