"""Decoding raw dataset files: images, and label files as raw label ids.

Every failure raises :class:`RawDataError` naming the file, so a corrupt or truncated
file among 25k is found at once, whichever worker process met it.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image


class RawDataError(ValueError):
    """The raw data is missing, malformed or inconsistent; the message names the file(s)."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB; a corrupt or truncated file raises an error naming it."""
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later
            return np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise RawDataError(f"cannot decode image {path}: {err}") from None


def read_index_label(path: str | os.PathLike) -> np.ndarray:
    """(H, W) uint8 label ids of a palette (``P``) or greyscale (``L``) PNG.

    For a palette PNG this is the palette *index*; converting to RGB would give colours.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("P", "L"):
                raise RawDataError(f"label {path}: expected a palette or greyscale PNG of "
                                   f"label ids, got mode {im.mode}")
            return np.asarray(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        if isinstance(err, RawDataError):
            raise
        raise RawDataError(f"cannot decode label {path}: {err}") from None


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
    try:
        with Image.open(path) as im:
            mode, fmt = im.mode, im.format
            if fmt != "PNG":
                found = fmt or "an unknown format"
                raise RawDataError(f"label {path}: labels must be PNG files, got {found} "
                                   f"(a lossy format changes label values)")
            if mode == "P":
                im.load()
                return np.asarray(im.convert("RGB") if palette_as_rgb else im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        if isinstance(err, RawDataError):
            raise
        raise RawDataError(f"cannot decode label {path}: {err}") from None
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
