"""The label canvas: class ids, the pinhole camera, and the drawn scene before painting.

:class:`Canvas` draws primitives (polygons in world metres, rectangles, ellipses, lines)
into an (H, W) image of *part* ids; every part records its class, a shade and the
object it belongs to, so the renderer can colour objects consistently.
:class:`Billboard` is the frontal coordinate frame of one standing object.
:meth:`Canvas.to_layout` freezes the result into a :class:`SceneLayout`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

# Cityscapes train ids (advent.data.labels.CITYSCAPES_CLASSES order).
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(11, 19)
NUM_CLASSES = 19
#: Classes whose instances get the larger "object" colour jitter (paint, clothes).
OBJECT_CLASSES = (PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE)

CAMERA_HEIGHT = 1.5  # metres above the road


@dataclass
class SceneLayout:
    """A drawn scene before painting.

    ``instances`` (H, W) int32 part ids into ``part_class`` / ``part_shade`` /
    ``part_object``; ``label`` (H, W) uint8 train ids; ``horizon`` the horizon row in
    pixels (float); ``objects`` one ``(class_id, depth_m)`` per counted object.
    """

    label: np.ndarray
    instances: np.ndarray
    part_class: np.ndarray
    part_shade: np.ndarray
    part_object: np.ndarray
    object_class: np.ndarray
    horizon: float
    objects: list[tuple[int, float]]


class Canvas:
    """Label canvas + camera. Each primitive is a *part* (class, shade, owning object);
    shade is a brightness factor both renderers apply (windows darker, lane paint
    brighter), so these geometric cues are shared by the domains."""

    def __init__(self, height: int, width: int, horizon: float, cx: float, focal: float):
        self.h, self.w = height, width
        self.h0, self.cx, self.f = horizon, cx, focal
        self.image = Image.new("I", (width, height), 0)
        self.draw = ImageDraw.Draw(self.image)
        self.part_class: list[int] = [SKY]
        self.part_shade: list[float] = [1.0]
        self.part_object: list[int] = [0]
        self.object_class: list[int] = [SKY]
        self.objects: list[tuple[int, float]] = []
        # Nearest depth whose ground point is still inside the image.
        self.z_bottom = focal * CAMERA_HEIGHT / max(height - horizon, 1.0)

    # -- bookkeeping ------------------------------------------------------------------
    def new_object(self, cls: int) -> int:
        self.object_class.append(cls)
        return len(self.object_class) - 1

    def _part(self, cls: int, shade: float, obj: int | None) -> int:
        if obj is None:
            obj = self.new_object(cls)
        self.part_class.append(cls)
        self.part_shade.append(shade)
        self.part_object.append(obj)
        return len(self.part_class) - 1

    # -- projection -------------------------------------------------------------------
    def p(self, x: float, z: float, y: float = 0.0) -> tuple[float, float]:
        """World point (lateral x, depth z, height y) in metres -> pixel (col, row)."""
        z = max(z, 0.5)
        return self.cx + self.f * x / z, self.h0 + self.f * (CAMERA_HEIGHT - y) / z

    def scale(self, z: float) -> float:
        """Pixels per metre at depth ``z``."""
        return self.f / max(z, 0.5)

    # -- primitives ------------------------------------------------------------------
    def poly(self, pts: list[tuple[float, float]], cls: int, shade: float = 1.0,
             obj: int | None = None) -> None:
        self.draw.polygon(pts, fill=self._part(cls, shade, obj))

    def quad3d(self, corners: list[tuple[float, float, float]], cls: int, shade: float = 1.0,
               obj: int | None = None) -> None:
        """Polygon of world points (x, z, y)."""
        self.poly([self.p(x, z, y) for x, z, y in corners], cls, shade, obj)

    def rect(self, x0: float, y0: float, x1: float, y1: float, cls: int, shade: float = 1.0,
             obj: int | None = None) -> None:
        # Pillow rectangles include both corners: thin poles stay at least 1 px wide.
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        self.draw.rectangle([x0, y0, max(x1, x0), max(y1, y0)], fill=self._part(cls, shade, obj))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, cls: int, shade: float = 1.0,
                obj: int | None = None, outline: float = 0.0) -> None:
        rx, ry = max(rx, 0.5), max(ry, 0.5)
        box = [cx - rx, cy - ry, cx + rx, cy + ry]
        if outline > 0:
            self.draw.ellipse(box, outline=self._part(cls, shade, obj),
                              width=max(1, int(round(outline))))
        else:
            self.draw.ellipse(box, fill=self._part(cls, shade, obj))

    def line(self, pts: list[tuple[float, float]], width_px: float, cls: int,
             shade: float = 1.0, obj: int | None = None) -> None:
        self.draw.line(pts, fill=self._part(cls, shade, obj), width=max(1, int(round(width_px))))


    def to_layout(self) -> SceneLayout:
        """The drawn scene as arrays (part tables indexed by the part ids of ``image``)."""
        instances = np.asarray(self.image, dtype=np.int32)
        part_class = np.asarray(self.part_class, dtype=np.int64)
        label = part_class[instances].astype(np.uint8)
        return SceneLayout(
            label=label, instances=instances, part_class=part_class,
            part_shade=np.asarray(self.part_shade, dtype=np.float32),
            part_object=np.asarray(self.part_object, dtype=np.int64),
            object_class=np.asarray(self.object_class, dtype=np.int64),
            horizon=self.h0, objects=list(self.objects),
        )


class Billboard:
    """Local frontal coordinates (u right, v up, metres) of an object standing at
    (x, z): everything it draws scales with 1/z."""

    def __init__(self, canvas: Canvas, x: float, z: float, cls: int):
        self.c = canvas
        self.s = canvas.scale(z)
        self.x0, self.y0 = canvas.p(x, z)
        self.obj = canvas.new_object(cls)
        canvas.objects.append((cls, z))

    def q(self, u: float, v: float) -> tuple[float, float]:
        return self.x0 + self.s * u, self.y0 - self.s * v

    def poly(self, uv: list[tuple[float, float]], cls: int, shade: float = 1.0) -> None:
        self.c.poly([self.q(u, v) for u, v in uv], cls, shade, self.obj)

    def rect(self, u0: float, v0: float, u1: float, v1: float, cls: int, shade: float = 1.0) -> None:
        (x0, y0), (x1, y1) = self.q(u0, v0), self.q(u1, v1)
        self.c.rect(x0, y0, x1, y1, cls, shade, self.obj)

    def ellipse(self, u: float, v: float, ru: float, rv: float, cls: int, shade: float = 1.0,
                outline_m: float = 0.0) -> None:
        x, y = self.q(u, v)
        self.c.ellipse(x, y, ru * self.s, rv * self.s, cls, shade, self.obj, outline_m * self.s)

    def line(self, uv: list[tuple[float, float]], width_m: float, cls: int, shade: float = 1.0) -> None:
        self.c.line([self.q(u, v) for u, v in uv], width_m * self.s, cls, shade, self.obj)
