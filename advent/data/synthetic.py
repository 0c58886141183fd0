"""Procedural synthetic -> "real" street-scene benchmark (a small GTA5 -> Cityscapes).

Every sample is a driving scene drawn through a pinhole camera 1.5 m above a flat
ground plane: a horizon row, a road vanishing toward a vanishing point, sidewalks,
terrain strips, building facades and vegetation along both sides, a distant skyline,
and cars, trucks, buses, persons, cyclists, poles with signs and traffic lights, trees,
fences and walls. Objects live in metres at a depth ``Z``; their pixel size is
``focal / Z`` and their foot row ``horizon + focal * 1.5 / Z``, so apparent size grows
linearly with the distance of the foot below the horizon, and they are drawn far to
near so near objects occlude far ones. Labels are the 19 Cityscapes train ids
(255 = ignore, used only for the ego-vehicle hood some target images show, as in
Cityscapes).

Two renderers paint the same label space:

* source ("game-like"): one flat, saturated colour per class, small per-object colour
  jitter, hard edges, no noise;
* target ("photo-like"): a different, desaturated palette, per-class textures
  (asphalt grain, facade windows, paving tiles, foliage), sky gradient and clouds, an
  illumination gradient, an exposure and colour cast that vary per image, blur and
  sensor noise.

The layouts differ too (horizon height, road width, object densities, buildings vs
vegetation). Everything that separates the domains lives in two frozen dataclasses,
:class:`LayoutStats` and :class:`DomainStyle`; the source uses their defaults and the
target uses ``lerp(source, TARGET_*, gap)``. ``gap = 0`` makes the target statistically
identical to the source, ``gap = 1`` is the default benchmark, values up to 2 extrapolate.

Everything is a pure function of ``(seed, domain, index, height, width, gap)``, so
samples can be generated in any order or in parallel. numpy + Pillow only.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from advent.data.labels import IGNORE_INDEX
from advent.params import MAX_SYNTHETIC_GAP, SyntheticConfig

#: Bumped whenever the same arguments would produce different pixels.
GENERATOR_VERSION = 1

Domain = Literal["source", "target"]
_DOMAIN_CODE = {"source": 0, "target": 1}

# Cityscapes train ids (advent.data.labels.CITYSCAPES_CLASSES order).
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(11, 19)
NUM_CLASSES = 19
#: Classes whose instances get the larger "object" colour jitter (paint, clothes).
OBJECT_CLASSES = (PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE)

_CAMERA_HEIGHT = 1.5  # metres above the road

RGB = tuple[float, float, float]
Palette = tuple[RGB, ...]


# ---------------------------------------------------------------------------------------
# The knobs
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayoutStats:
    """Scene-layout statistics of one domain. Defaults: the source ("game") domain.

    Lengths are metres in the world (camera 1.5 m above the road), fractions are of the
    image height (``horizon_*``) or width (``vanishing_x_std``, ``focal``). ``*_rate``
    fields are Poisson means per image, ``*_prob`` fields probabilities.
    """

    horizon_mean: float = 0.40       # horizon row / H; the game camera sits a bit higher
    horizon_std: float = 0.05
    vanishing_x_std: float = 0.07    # vanishing point column jitter / W
    focal: float = 0.55              # focal length / W (about 85 degrees horizontal FOV)
    road_half_width: float = 4.6     # wide game roads
    lateral_offset_std: float = 1.0  # camera offset from the road centre line
    sidewalk_width: float = 2.5
    terrain_strip_prob: float = 0.25  # grass strip between sidewalk and building line
    building_prob: float = 0.85      # per roadside segment: building (else vegetation/open)
    vegetation_block_prob: float = 0.35  # of the non-building segments: hedge/wood
    building_height_min: float = 8.0
    building_height_max: float = 28.0
    skyline_building_share: float = 0.85  # distant skyline: buildings vs tree lines
    road_end_prob: float = 0.2       # a facade across the road closes the view
    tree_rate: float = 1.5
    car_rate: float = 3.5
    big_vehicle_rate: float = 0.6    # trucks and buses
    tram_rate: float = 0.06          # class "train": rare in both, as in Cityscapes
    person_rate: float = 1.5
    cyclist_rate: float = 0.4
    motorcyclist_rate: float = 0.3
    parked_bicycle_rate: float = 0.2
    pole_rate: float = 2.0
    sign_prob: float = 0.5           # per pole
    traffic_light_prob: float = 0.3  # per pole
    fence_rate: float = 0.4
    wall_rate: float = 0.6
    lane_marking_prob: float = 0.85
    ego_hood_prob: float = 0.0       # ego-vehicle hood at the bottom, label 255


@dataclass(frozen=True)
class DomainStyle:
    """How a domain is painted. Defaults: the source ("game-like") renderer.

    ``palette`` holds one base RGB colour per train id. Texture amplitudes multiply a
    fixed per-class profile (``_TEXTURE_PROFILE``) of low-, mid- and pixel-frequency
    noise; ``blur`` is a Gaussian sigma in units of the image height; ``noise`` a
    per-pixel standard deviation in 0..255 units. Per-image random factors (exposure,
    colour cast, illumination direction) are drawn with the given spreads.
    """

    palette: Palette = (
        (96, 86, 110),    # road: violet-grey asphalt
        (214, 150, 184),  # sidewalk: pink paving
        (206, 128, 70),   # building: orange brick
        (186, 170, 100),  # wall
        (160, 112, 52),   # fence
        (120, 124, 160),  # pole
        (244, 186, 24),   # traffic light
        (250, 232, 20),   # traffic sign
        (40, 176, 52),    # vegetation
        (150, 208, 80),   # terrain
        (80, 164, 250),   # sky
        (226, 44, 70),    # person
        (250, 90, 30),    # rider
        (30, 70, 214),    # car
        (40, 40, 120),    # truck
        (30, 120, 150),   # bus
        (30, 140, 120),   # train
        (110, 40, 230),   # motorcycle
        (150, 30, 70),    # bicycle
    )
    ego_colour: RGB = (40, 40, 46)    # ego-vehicle hood (label 255)
    stuff_jitter: float = 0.04        # log-std of per-instance colour gain, stuff classes
    object_jitter: float = 0.10       # ... object classes (paint, clothes)
    saturation: float = 1.0           # 1 = palette as is, < 1 desaturates
    texture_low: float = 0.0          # large blotches (stains, clouds, lawn patches)
    texture_mid: float = 0.0          # foliage clumps, cracks
    texture_grain: float = 0.0        # per-pixel grain (asphalt, gravel)
    window_contrast: float = 0.0      # facade windows
    tile_contrast: float = 0.0        # sidewalk paving joints and fence slats
    sky_gradient: float = 0.0         # sky brightens toward the horizon
    illumination: float = 0.0         # amplitude of a linear light gradient + vignette
    exposure_std: float = 0.0         # log-std of a per-image brightness gain
    cast: RGB = (1.0, 1.0, 1.0)       # mean per-channel gain (global colour cast)
    cast_std: float = 0.0             # per-image log-std around it
    blur: float = 0.0                 # Gaussian sigma / image height
    noise: float = 0.0                # sensor noise std, 0..255 units


#: Target ("Cityscapes-like") layout: lower horizon, narrower roads with wider sidewalks,
#: more vegetation and fewer/lower buildings, many more persons, cyclists, poles.
TARGET_LAYOUT = LayoutStats(
    horizon_mean=0.45, horizon_std=0.025, vanishing_x_std=0.04,
    road_half_width=3.8, lateral_offset_std=0.8, sidewalk_width=3.2,
    terrain_strip_prob=0.5, building_prob=0.6, vegetation_block_prob=0.6,
    building_height_min=7.0, building_height_max=20.0, skyline_building_share=0.5,
    road_end_prob=0.3, tree_rate=4.0, car_rate=5.5, big_vehicle_rate=0.25,
    person_rate=5.0, cyclist_rate=1.2, motorcyclist_rate=0.2, parked_bicycle_rate=0.8,
    pole_rate=4.0, sign_prob=0.6, traffic_light_prob=0.35, fence_rate=0.8, wall_rate=0.3,
    lane_marking_prob=0.6, ego_hood_prob=0.35,
)

#: Target ("photo-like") style: every class colour moved 13-67 RGB units toward a muted,
#: more real-world tone, mostly within its hue family (for about half the classes the
#: new colour is as near another class's source colour as its own: colour alone becomes
#: ambiguous, shape and context still transfer), plus textures, lighting, a warm cast,
#: blur and noise. Palette shifts much larger than this made a source-trained probe
#: CNN useless on the target (and entropy minimisation then only reinforced its errors).
TARGET_STYLE = DomainStyle(
    palette=(
        (112, 108, 108),  # road: grey asphalt
        (184, 151, 162),  # sidewalk: greyish paving
        (176, 112, 84),   # building: darker brick
        (161, 153, 117),  # wall
        (138, 107, 68),   # fence
        (114, 117, 142),  # pole
        (220, 168, 40),   # traffic light
        (236, 214, 60),   # traffic sign
        (60, 130, 55),    # vegetation: darker green
        (150, 180, 95),   # terrain: drier grass
        (136, 184, 234),  # sky: paler
        (190, 56, 80),    # person
        (220, 96, 50),    # rider
        (50, 76, 170),    # car
        (53, 53, 109),    # truck
        (40, 112, 140),   # bus
        (34, 137, 119),   # train
        (105, 52, 195),   # motorcycle
        (133, 49, 75),    # bicycle
    ),
    ego_colour=(34, 34, 38),
    stuff_jitter=0.08, object_jitter=0.22, saturation=0.9,
    texture_low=0.22, texture_mid=0.18, texture_grain=0.07,
    window_contrast=0.35, tile_contrast=0.18, sky_gradient=0.25,
    illumination=0.25, exposure_std=0.15, cast=(1.04, 1.0, 0.93), cast_std=0.05,
    blur=0.008, noise=5.0,
)

SOURCE_LAYOUT = LayoutStats()
SOURCE_STYLE = DomainStyle()

#: Relative amplitude of (low, mid, grain) texture per class, times DomainStyle's scalars.
_TEXTURE_PROFILE = np.array([
    (0.5, 0.4, 1.0),  # road
    (0.4, 0.3, 0.6),  # sidewalk
    (0.7, 0.3, 0.3),  # building
    (0.5, 0.4, 0.6),  # wall
    (0.3, 0.4, 0.5),  # fence
    (0.2, 0.1, 0.3),  # pole
    (0.1, 0.1, 0.3),  # traffic light
    (0.1, 0.1, 0.3),  # traffic sign
    (0.6, 1.2, 0.9),  # vegetation
    (0.7, 0.7, 0.9),  # terrain
    (0.9, 0.2, 0.0),  # sky (clouds; no grain)
    (0.2, 0.3, 0.3),  # person
    (0.2, 0.3, 0.3),  # rider
    (0.3, 0.1, 0.2),  # car
    (0.3, 0.1, 0.2),  # truck
    (0.3, 0.1, 0.2),  # bus
    (0.3, 0.1, 0.2),  # train
    (0.2, 0.2, 0.3),  # motorcycle
    (0.2, 0.2, 0.3),  # bicycle
], dtype=np.float32)


def _lerp_value(a, b, t: float):
    if isinstance(a, tuple):
        return tuple(_lerp_value(x, y, t) for x, y in zip(a, b))
    return float(a + (b - a) * t)


def _lerp(a, b, t: float):
    """Field-wise linear interpolation of two instances of the same frozen dataclass."""
    return dataclasses.replace(a, **{
        f.name: _lerp_value(getattr(a, f.name), getattr(b, f.name), t)
        for f in dataclasses.fields(a)
    })


def _check_domain_gap(domain: str, gap: float) -> None:
    if domain not in _DOMAIN_CODE:
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    if not (0.0 <= gap <= MAX_SYNTHETIC_GAP):
        raise ValueError(f"gap must be in [0, {MAX_SYNTHETIC_GAP}], got {gap!r}")


@functools.lru_cache(maxsize=64)
def domain_params(domain: Domain, gap: float = 1.0) -> tuple[LayoutStats, DomainStyle]:
    """The layout statistics and style of ``domain``.

    The source ignores ``gap``; the target interpolates field by field from the source
    (``gap = 0``) to ``TARGET_LAYOUT`` / ``TARGET_STYLE`` (``gap = 1``), extrapolating
    up to ``gap = 2`` (probabilities are clipped where they are used).
    """
    _check_domain_gap(domain, gap)
    if domain == "source":
        return SOURCE_LAYOUT, SOURCE_STYLE
    return _lerp(SOURCE_LAYOUT, TARGET_LAYOUT, gap), _lerp(SOURCE_STYLE, TARGET_STYLE, gap)


# ---------------------------------------------------------------------------------------
# Layout: a label canvas drawn through a pinhole camera
# ---------------------------------------------------------------------------------------

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


class _Canvas:
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
        self.z_bottom = focal * _CAMERA_HEIGHT / max(height - horizon, 1.0)

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
        return self.cx + self.f * x / z, self.h0 + self.f * (_CAMERA_HEIGHT - y) / z

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


class _Billboard:
    """Local frontal coordinates (u right, v up, metres) of an object standing at
    (x, z): everything it draws scales with 1/z."""

    def __init__(self, canvas: _Canvas, x: float, z: float, cls: int, count: bool = True):
        self.c = canvas
        self.s = canvas.scale(z)
        self.x0, self.y0 = canvas.p(x, z)
        self.obj = canvas.new_object(cls)
        if count:
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


def _clip01(p: float) -> float:
    return min(max(p, 0.0), 1.0)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo * 1.01)))))


# -- objects ----------------------------------------------------------------------------

def _draw_person(c: _Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    b = _Billboard(c, x, z, PERSON)
    k = rng.uniform(0.88, 1.08)  # height / 1.75 m
    stride = rng.uniform(0.0, 0.18)
    hip, shoulder = 0.9 * k, 1.45 * k
    for side in (-1, 1):  # legs (trousers darker)
        b.poly([(side * 0.02, hip), (side * 0.15, hip), (side * (0.1 + stride), 0),
                (side * (-0.02 + stride), 0)], PERSON, 0.75)
    b.poly([(-0.18, hip - 0.05), (0.18, hip - 0.05), (0.22, shoulder), (-0.22, shoulder)], PERSON)
    for side in (-1, 1):  # arms
        b.poly([(side * 0.2, shoulder), (side * 0.28, shoulder - 0.02),
                (side * (0.28 + stride * 0.5), hip - 0.05), (side * (0.21 + stride * 0.5), hip - 0.05)],
               PERSON, 0.9)
    b.ellipse(0, shoulder + 0.17 * k, 0.1 * k, 0.13 * k, PERSON, 1.3)  # head (skin)


def _draw_two_wheeler(c: _Canvas, rng: np.random.Generator, x: float, z: float,
                      motor: bool, ridden: bool) -> None:
    vehicle = MOTORCYCLE if motor else BICYCLE
    b = _Billboard(c, x, z, vehicle)
    d = 1 if rng.random() < 0.5 else -1  # facing right or left
    r, hub = (0.32, 0.7) if motor else (0.34, 0.52)
    if motor:
        for u in (-hub, hub):
            b.ellipse(d * u, r, r, r, MOTORCYCLE, 0.45)
        b.poly([(d * -0.75, 0.5), (d * 0.55, 0.45), (d * 0.7, 0.95), (d * 0.1, 1.0),
                (d * -0.6, 0.85)], MOTORCYCLE)
        seat = (d * -0.25, 0.95)
        bar = (d * 0.6, 1.1)
    else:
        for u in (-hub, hub):
            b.ellipse(d * u, r, r, r, BICYCLE, 0.8, outline_m=0.07)
        seat, bar, bb = (d * -0.15, 0.88), (d * 0.42, 0.98), (0.0, 0.36)
        b.line([(d * -hub, r), bb, seat, (d * -hub, r)], 0.06, BICYCLE)
        b.line([bb, (d * 0.38, 0.82), bar, (d * hub, r)], 0.06, BICYCLE)
    if ridden:
        p = _Billboard(c, x, z * 0.999, RIDER)
        sx, sy = seat
        p.poly([(sx - d * 0.02, sy + 0.1), (0.0, 0.25), (d * 0.12, 0.25), (sx + d * 0.14, sy + 0.05)],
               RIDER, 0.75)  # leg to the pedal
        top = (sx + d * 0.22, sy + 0.62)
        p.poly([(sx - d * 0.16, sy), (sx + d * 0.16, sy), (top[0] + d * 0.16, top[1]),
                (top[0] - d * 0.18, top[1])], RIDER)  # torso leaning forward
        p.line([(top[0] + d * 0.05, top[1] - 0.05), bar], 0.09, RIDER, 0.9)  # arm
        p.ellipse(top[0] + d * 0.06, top[1] + 0.17, 0.1, 0.12, RIDER, 1.3)  # head


def _draw_vehicle(c: _Canvas, rng: np.random.Generator, x: float, z: float, cls: int) -> None:
    """A box seen from behind (or the front), with its inner side face, roof and wheels."""
    obj = c.new_object(cls)
    c.objects.append((cls, z))
    if cls == CAR:
        w, length, hb, ht = rng.uniform(1.7, 1.95), rng.uniform(3.9, 4.8), 0.95, rng.uniform(1.4, 1.6)
    elif cls == BUS:
        w, length, hb, ht = 2.55, rng.uniform(10.0, 13.0), 3.1, 3.1
    elif cls == TRAIN:  # tram
        w, length, hb, ht = 2.6, rng.uniform(18.0, 28.0), 3.4, 3.4
    else:  # truck: a tall cargo box
        w, length, hb, ht = 2.45, rng.uniform(6.5, 9.0), rng.uniform(3.0, 3.8), 0.0
    half = w / 2
    xs = x - half if x > 0 else x + half  # the side facing the road axis is visible
    clear = 0.25
    z1 = z + length
    if abs(x) > half:
        c.quad3d([(xs, z, clear), (xs, z1, clear), (xs, z1, hb), (xs, z, hb)], cls, 0.82, obj)
        for zw in (z + 0.8, z1 - 0.8) if cls == CAR else (z + 1.5, z1 - 2.0):
            (xa, ya), (xb, _) = c.p(xs, zw - 0.35, 0.35), c.p(xs, zw + 0.35, 0.35)
            c.ellipse((xa + xb) / 2, ya, abs(xa - xb) / 2, 0.35 * c.scale(zw), cls, 0.3, obj)
        if cls in (BUS, TRAIN):  # window band along the side
            c.quad3d([(xs, z + 0.5, 1.7), (xs, z1 - 0.5, 1.7), (xs, z1 - 0.5, 2.7), (xs, z + 0.5, 2.7)],
                     cls, 0.45, obj)
    if hb < _CAMERA_HEIGHT:  # the top of the body is seen from above
        c.quad3d([(x - half, z, hb), (x + half, z, hb), (x + half, z1, hb), (x - half, z1, hb)],
                 cls, 1.08, obj)
    if cls == CAR:
        ci = half - 0.12
        za, zb = z + 0.9, z1 - 0.9
        zc, zd = z + 1.5, z1 - 1.5
        if abs(x) > half:  # side windows
            xc = x - ci if x > 0 else x + ci
            c.quad3d([(xc, za, hb), (xc, zb, hb), (xc, zd, ht), (xc, zc, ht)], cls, 0.42, obj)
        c.quad3d([(x - ci, zc, ht), (x + ci, zc, ht), (x + ci, zd, ht), (x - ci, zd, ht)], cls, 1.0, obj)
        c.quad3d([(x - ci, za, hb), (x + ci, za, hb), (x + ci, zc, ht), (x - ci, zc, ht)], cls, 0.4, obj)
    # rear (or front) face, bumper and wheels under it
    for sgn in (-1, 1):
        (xa, ya), (xb, yb) = c.p(x + sgn * (half - 0.1), z + 0.3, 0.0), c.p(x + sgn * (half - 0.4), z + 0.3, clear + 0.1)
        c.rect(xa, ya, xb, yb, cls, 0.3, obj)
    c.quad3d([(x - half, z, clear), (x + half, z, clear), (x + half, z, hb), (x - half, z, hb)], cls, 1.0, obj)
    c.quad3d([(x - half, z, clear), (x + half, z, clear), (x + half, z, clear + 0.15),
              (x - half, z, clear + 0.15)], cls, 0.65, obj)
    if cls in (BUS, TRAIN):
        c.quad3d([(x - half + 0.2, z, 1.6), (x + half - 0.2, z, 1.6), (x + half - 0.2, z, 2.8),
                  (x - half + 0.2, z, 2.8)], cls, 0.45, obj)


def _draw_pole(c: _Canvas, rng: np.random.Generator, x: float, z: float, lay: LayoutStats) -> None:
    b = _Billboard(c, x, z, POLE)
    height = rng.uniform(3.0, 7.0)
    b.rect(-0.07, 0, 0.07, height, POLE)
    toward_road = -1 if x > 0 else 1
    if rng.random() < _clip01(lay.traffic_light_prob):
        light = _Billboard(c, x, z * 0.999, LIGHT)
        if rng.random() < 0.5 and height > 4.5:  # mast arm over the road
            reach = rng.uniform(1.5, 3.5) * toward_road
            b.rect(0, height - 0.5, reach, height - 0.38, POLE)
            cu, top = reach, height - 0.45
        else:
            cu, top = 0.0, min(height, rng.uniform(2.8, 4.0)) + 0.4
        light.rect(cu - 0.17, top - 0.95, cu + 0.17, top, LIGHT)
        for i, shade in enumerate(rng.permutation([0.55, 0.55, 1.6])):
            light.ellipse(cu, top - 0.17 - 0.3 * i, 0.08, 0.08, LIGHT, float(shade))
    elif rng.random() < 0.5 and height > 5.0:  # street lamp
        reach = rng.uniform(0.8, 1.8) * toward_road
        b.line([(0, height), (reach, height + 0.2)], 0.1, POLE)
        b.ellipse(reach, height + 0.1, 0.3, 0.1, POLE, 1.25)
    if rng.random() < _clip01(lay.sign_prob):
        sign = _Billboard(c, x, z * 0.998, SIGN)
        v = min(height - 0.4, rng.uniform(2.0, 3.0))
        size = rng.uniform(0.5, 0.8)
        kind = rng.integers(4)
        if kind == 0:
            sign.ellipse(0, v, size / 2, size / 2, SIGN)
            sign.ellipse(0, v, size / 3, size / 3, SIGN, 1.3)
        elif kind == 1:
            sign.rect(-size / 2, v - size / 2, size / 2, v + size / 2, SIGN)
            sign.rect(-size / 3, v - size / 3, size / 3, v + size / 3, SIGN, 1.3)
        elif kind == 2:
            sign.poly([(-size / 2, v + size / 2.5), (size / 2, v + size / 2.5), (0, v - size / 2)], SIGN)
        else:
            sign.rect(-size * 0.8, v - size / 3, size * 0.8, v + size / 3, SIGN, 0.9)


def _draw_tree(c: _Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    b = _Billboard(c, x, z, VEGETATION)
    trunk = rng.uniform(1.8, 3.2)
    r = rng.uniform(1.3, 2.8)
    b.rect(-0.14, 0, 0.14, trunk + r * 0.5, VEGETATION, 0.6)
    for _ in range(int(rng.integers(3, 6))):
        b.ellipse(rng.normal(0, r * 0.35), trunk + r + rng.normal(0, r * 0.3),
                  r * rng.uniform(0.55, 0.85), r * rng.uniform(0.55, 0.85),
                  VEGETATION, float(rng.uniform(0.85, 1.15)))


def _draw_strip(c: _Canvas, x: float, z0: float, z1: float, height: float, cls: int,
                posts: float = 0.0) -> None:
    """Fence or wall: a vertical strip along depth at lateral position x."""
    obj = c.new_object(cls)
    c.quad3d([(x, z0, 0), (x, z1, 0), (x, z1, height), (x, z0, height)], cls, 1.0, obj)
    if cls == WALL:  # coping stone on top
        c.quad3d([(x, z0, height - 0.12), (x, z1, height - 0.12), (x, z1, height), (x, z0, height)],
                 cls, 1.2, obj)
    if posts > 0:
        zp = z0
        while zp < z1:
            (xa, ya), (xb, yb) = c.p(x, zp, 0), c.p(x, zp + 0.12, height + 0.1)
            c.rect(xa, ya, xb, yb, cls, 0.7, obj)
            zp += posts


# -- scene ------------------------------------------------------------------------------

def _draw_scene(rng: np.random.Generator, lay: LayoutStats, height: int, width: int) -> _Canvas:
    horizon = height * float(np.clip(rng.normal(lay.horizon_mean, max(lay.horizon_std, 0.0)), 0.2, 0.7))
    cx = width * (0.5 + float(np.clip(rng.normal(0, max(lay.vanishing_x_std, 0.0)), -0.25, 0.25)))
    c = _Canvas(height, width, horizon, cx, lay.focal * width)
    z_far = 400.0
    z_near = max(c.z_bottom, 1.0)

    # Road cross-section (metres; the camera is at x = 0).
    offset = float(np.clip(rng.normal(0, max(lay.lateral_offset_std, 0.0)), -2.0, 2.0))
    road_half = max(2.5, rng.normal(lay.road_half_width, 0.6))
    edges = {-1: road_half + offset, 1: road_half - offset}  # |x| of each road edge
    side_info: dict[int, dict[str, float]] = {}
    for s in (-1, 1):
        sw = max(1.2, rng.normal(lay.sidewalk_width, 0.5))
        tw = rng.uniform(1.5, 4.0) if rng.random() < _clip01(lay.terrain_strip_prob) else 0.0
        side_info[s] = {"edge": edges[s], "sw": sw, "tw": tw, "build": edges[s] + sw + tw}
    road_end = rng.uniform(35.0, 110.0) if rng.random() < _clip01(lay.road_end_prob) else z_far

    # 1. Sky is part 0. Distant skyline: a band of buildings / tree lines on the horizon.
    xs = -0.05 * width
    while xs < width * 1.05:
        wpx = width * rng.uniform(0.03, 0.12)
        if rng.random() < _clip01(lay.skyline_building_share):
            top = horizon - height * rng.uniform(0.02, 0.12)
            c.rect(xs, top, xs + wpx, horizon + 1, BUILDING, float(rng.uniform(0.8, 1.0)))
        else:
            rad = wpx * 0.6
            c.ellipse(xs + wpx / 2, horizon - rad * 0.4, rad, rad * 0.7, VEGETATION, 0.85)
            c.rect(xs, horizon - rad * 0.4, xs + wpx, horizon + 1, VEGETATION, 0.85)
        xs += wpx

    # 2. Ground: terrain everywhere below the horizon, then sidewalks, grass strips, road.
    c.rect(-1, horizon, width + 1, height + 1, TERRAIN)
    zn, zf = z_near * 0.6, road_end
    for s, info in side_info.items():
        e, sw, tw = info["edge"], info["sw"], info["tw"]
        c.quad3d([(s * e, zn, 0), (s * (e + sw), zn, 0), (s * (e + sw), zf, 0), (s * e, zf, 0)], SIDEWALK)
        c.quad3d([(s * e, zn, 0), (s * (e + 0.25), zn, 0), (s * (e + 0.25), zf, 0), (s * e, zf, 0)],
                 SIDEWALK, 1.15)  # kerb stones
    road = c.new_object(ROAD)
    c.quad3d([(-edges[-1], zn, 0), (edges[1], zn, 0), (edges[1], zf, 0), (-edges[-1], zf, 0)],
             ROAD, 1.0, road)
    if rng.random() < _clip01(lay.lane_marking_prob):
        xm = (edges[1] - edges[-1]) / 2
        zd = rng.uniform(0, 9.0) + zn
        while zd < min(zf, 120.0):  # dashed centre line
            c.quad3d([(xm - 0.08, zd, 0), (xm + 0.08, zd, 0), (xm + 0.08, zd + 3, 0), (xm - 0.08, zd + 3, 0)],
                     ROAD, 2.0, road)
            zd += 9.0
        for s in (-1, 1):  # solid edge lines
            xe = s * (edges[s] - 0.3)
            c.quad3d([(xe - 0.07, zn, 0), (xe + 0.07, zn, 0), (xe + 0.07, zf, 0), (xe - 0.07, zf, 0)],
                     ROAD, 1.8, road)
    if road_end < z_far:  # facades across the road at its end
        xe = -60.0
        while xe < 60.0:
            wb = rng.uniform(8, 20)
            hb = rng.uniform(lay.building_height_min, lay.building_height_max)
            c.quad3d([(xe, road_end, 0), (xe + wb, road_end, 0), (xe + wb, road_end, hb), (xe, road_end, hb)],
                     BUILDING, float(rng.uniform(0.85, 1.05)))
            xe += wb

    # 3. Roadside scenery per side, far to near: buildings, vegetation blocks, openings.
    for s, info in side_info.items():
        xb = s * info["build"]
        segs: list[tuple[float, float]] = []
        z0 = max(z_near * 0.6, 1.0)
        while z0 < min(road_end, 150.0):
            length = rng.uniform(8.0, 30.0)
            segs.append((z0, min(z0 + length, road_end)))
            z0 += length + (rng.uniform(2, 8) if rng.random() < 0.25 else 0.0)
        for z0, z1 in reversed(segs):
            u = rng.random()
            if u < _clip01(lay.building_prob):
                bh = rng.uniform(lay.building_height_min, lay.building_height_max)
                obj = c.new_object(BUILDING)
                c.quad3d([(xb + s * 15, z0, 0), (xb, z0, 0), (xb, z0, bh), (xb + s * 15, z0, bh)],
                         BUILDING, 0.78, obj)  # the end wall facing us, in shadow
                c.quad3d([(xb, z0, 0), (xb, z1, 0), (xb, z1, bh), (xb, z0, bh)],
                         BUILDING, float(rng.uniform(0.9, 1.1)), obj)
                if rng.random() < 0.5:  # shop fronts: darker ground floor
                    c.quad3d([(xb, z0, 0), (xb, z1, 0), (xb, z1, 3.2), (xb, z0, 3.2)],
                             BUILDING, 0.7, obj)
            elif rng.random() < _clip01(lay.vegetation_block_prob):
                n = 12  # a bumpy tree line / hedge
                zz = np.linspace(z0, z1, n)
                tops = rng.uniform(2.0, 9.0) + np.abs(rng.normal(0, 1.2, n)) * rng.uniform(0.5, 2.0)
                pts = [(xb, z0, 0.0)] + [(xb, float(a), float(t)) for a, t in zip(zz, tops)] + [(xb, z1, 0.0)]
                c.quad3d(pts, VEGETATION, float(rng.uniform(0.8, 1.0)))

    # 4. Fences and walls along the back of the sidewalk.
    for cls, rate in ((FENCE, lay.fence_rate), (WALL, lay.wall_rate)):
        for _ in range(int(rng.poisson(max(rate, 0.0)))):
            s = 1 if rng.random() < 0.5 else -1
            info = side_info[s]
            z0 = _log_uniform(rng, z_near, 60.0)
            z1 = z0 + rng.uniform(6.0, 30.0)
            x = s * (info["edge"] + info["sw"])
            if cls == FENCE:
                _draw_strip(c, x, z0, z1, rng.uniform(1.0, 1.8), FENCE, posts=2.5)
            else:
                _draw_strip(c, x, z0, z1, rng.uniform(0.7, 2.2), WALL)

    # 5. Objects, painted far to near.
    todo: list[tuple[float, Callable[[], None]]] = []

    def add(z: float, fn: Callable[..., None], *args) -> None:
        todo.append((z, lambda: fn(c, rng, *args)))

    z_min_obj = max(z_near * 0.95, 2.5)
    z_max_obj = min(road_end - 2.0, 70.0)
    lanes = [-edges[-1] / 2, edges[1] / 2]
    occupied: list[tuple[float, float, float]] = []  # (x, z0, z1) of vehicles

    def free(x: float, z0: float, z1: float) -> bool:
        return all(abs(x - ox) > 1.8 or z1 < oz0 - 1.0 or z0 > oz1 + 1.0 for ox, oz0, oz1 in occupied)

    kinds = [TRAIN] * int(rng.poisson(max(lay.tram_rate, 0.0)))
    kinds += [BUS if rng.random() < 0.5 else TRUCK for _ in range(int(rng.poisson(max(lay.big_vehicle_rate, 0.0))))]
    kinds += [CAR] * int(rng.poisson(max(lay.car_rate, 0.0)))
    for cls in kinds:
        length = {CAR: 4.5, TRAIN: 25.0}.get(cls, 12.0)
        for _attempt in range(4):
            if cls != TRAIN and rng.random() < 0.35:  # parked at the kerb
                s = 1 if rng.random() < 0.5 else -1
                x = s * (edges[s] - 1.1)
            else:
                x = lanes[int(rng.integers(2))] + rng.normal(0, 0.3)
            z = _log_uniform(rng, z_min_obj + 1.0, z_max_obj)
            if abs(x) < 1.5 and z < 7.0:  # nothing right in front of the bonnet
                continue
            if free(x, z, z + length):
                occupied.append((x, z, z + length))
                add(z, _draw_vehicle, x, z, cls)
                break
    for _ in range(int(rng.poisson(max(lay.tree_rate, 0.0)))):  # on the sidewalk or grass strip
        s = 1 if rng.random() < 0.5 else -1
        info = side_info[s]
        x = s * (info["edge"] + info["sw"] + info["tw"] / 2 if info["tw"] > 0 else info["edge"] + 0.9)
        z = _log_uniform(rng, z_min_obj, z_max_obj)
        add(z, _draw_tree, x, z)
    for _ in range(int(rng.poisson(max(lay.pole_rate, 0.0)))):
        s = 1 if rng.random() < 0.5 else -1
        x = s * (side_info[s]["edge"] + 0.45)
        z = _log_uniform(rng, z_min_obj, z_max_obj)
        add(z, _draw_pole, x, z, lay)
    for _ in range(int(rng.poisson(max(lay.person_rate, 0.0)))):
        s = 1 if rng.random() < 0.5 else -1
        info = side_info[s]
        if rng.random() < 0.1:  # crossing the road
            x = rng.uniform(-edges[-1], edges[1])
        else:
            x = s * rng.uniform(info["edge"] + 0.5, info["edge"] + info["sw"] - 0.3)
        z = _log_uniform(rng, z_min_obj, z_max_obj)
        add(z, _draw_person, x, z)
    for rate, motor, ridden in ((lay.cyclist_rate, False, True), (lay.motorcyclist_rate, True, True),
                                (lay.parked_bicycle_rate, False, False)):
        for _ in range(int(rng.poisson(max(rate, 0.0)))):
            s = 1 if rng.random() < 0.5 else -1
            info = side_info[s]
            if ridden:
                x = s * (edges[s] - rng.uniform(0.6, 1.4))
            else:
                x = s * (info["edge"] + info["sw"] - 0.5)
            z = _log_uniform(rng, z_min_obj, z_max_obj)
            add(z, _draw_two_wheeler, x, z, motor, ridden)
    for _, fn in sorted(todo, key=lambda t: -t[0]):
        fn()

    # 6. Ego-vehicle hood (ignored in evaluation, as in Cityscapes).
    if rng.random() < _clip01(lay.ego_hood_prob):
        hood = height * rng.uniform(0.06, 0.12)
        c.ellipse(width / 2, height + hood * 2.2, width * 0.75, hood * 3.2, IGNORE_INDEX)
    return c


def generate_layout(seed: int, index: int, domain: Domain, height: int, width: int,
                    gap: float = 1.0) -> SceneLayout:
    """Draw the label geometry of one sample (no colours). See :func:`generate_sample`."""
    _check_domain_gap(domain, gap)
    if height < 8 or width < 8:
        raise ValueError(f"image size must be at least 8x8, got {height}x{width}")
    lay, _ = domain_params(domain, gap)
    layout_rng, _ = _rngs(seed, index, domain)
    return _layout_from_canvas(_draw_scene(layout_rng, lay, height, width))


def _rngs(seed: int, index: int, domain: Domain) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent layout and render streams: changing the style never moves objects."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got {seed}, {index}")
    seq = np.random.SeedSequence([seed, _DOMAIN_CODE[domain], index])
    a, b = seq.spawn(2)
    return np.random.default_rng(a), np.random.default_rng(b)


def _layout_from_canvas(c: _Canvas) -> SceneLayout:
    instances = np.asarray(c.image, dtype=np.int32)
    part_class = np.asarray(c.part_class, dtype=np.int64)
    label = part_class[instances].astype(np.uint8)
    return SceneLayout(
        label=label, instances=instances, part_class=part_class,
        part_shade=np.asarray(c.part_shade, dtype=np.float32),
        part_object=np.asarray(c.part_object, dtype=np.int64),
        object_class=np.asarray(c.object_class, dtype=np.int64),
        horizon=c.h0, objects=list(c.objects),
    )


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 row and column coordinates normalised to [0, 1]."""
    yy, xx = np.meshgrid(np.linspace(0, 1, height, dtype=np.float32),
                         np.linspace(0, 1, width, dtype=np.float32), indexing="ij")
    return yy, xx


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 band-limited noise of roughly unit std: a small random grid
    upsampled bicubically (cheap, resolution-independent)."""
    small = rng.standard_normal(cells).astype(np.float32)
    up = Image.fromarray(small, mode="F").resize((width, height), Image.BICUBIC)
    return np.asarray(up, dtype=np.float32)


def _noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-mean, unit-std, Gaussian-ish (triangular) float32 noise; 2x cheaper than normal."""
    return (rng.random(shape, dtype=np.float32) - rng.random(shape, dtype=np.float32)) * np.float32(math.sqrt(6.0))


@functools.lru_cache(maxsize=32)
def _blur_filter(sigma: float) -> ImageFilter.Filter:
    """Gaussian blur of ``sigma`` px: an explicit 3x3 / 5x5 kernel for small sigmas
    (several times faster than Pillow's box-blur cascade at these sizes)."""
    if sigma > 1.5:
        return ImageFilter.GaussianBlur(sigma)
    radius = 1 if sigma <= 0.8 else 2
    g = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k = np.outer(g, g)
    return ImageFilter.Kernel((2 * radius + 1,) * 2, (k / k.sum()).ravel().tolist(), scale=1)


def _render(layout: SceneLayout, style: DomainStyle, rng: np.random.Generator) -> np.ndarray:
    """Paint a layout: (H, W) part ids -> (H, W, 3) uint8 RGB.

    Colour = saturate(palette[class] * part shade * object gain) * per-pixel brightness
    (textures, patterns, sky gradient, illumination) + sky haze, times a per-image
    colour gain; then blur and sensor noise. Saturation and the global gain commute
    with the per-pixel scalar factors, so they are applied to the small per-part table.
    """
    h, w = layout.label.shape
    label = layout.label
    palette = np.zeros((256, 3), dtype=np.float32)
    palette[:NUM_CLASSES] = np.asarray(style.palette, dtype=np.float32)
    palette[IGNORE_INDEX] = style.ego_colour

    # Per-object colour gain (paint / clothes / facade tint), then per-part shade.
    n_obj = len(layout.object_class)
    is_object = np.isin(layout.object_class, OBJECT_CLASSES)
    sigma = np.where(is_object, style.object_jitter, style.stuff_jitter).astype(np.float32)[:, None]
    obj_gain = np.exp(sigma * (0.6 * rng.standard_normal((n_obj, 3), dtype=np.float32)
                               + rng.standard_normal((n_obj, 1), dtype=np.float32)))
    part_rgb = palette[layout.part_class] * layout.part_shade[:, None] * obj_gain[layout.part_object]
    if style.saturation != 1.0:
        grey = part_rgb.mean(axis=1, keepdims=True)
        part_rgb = grey + style.saturation * (part_rgb - grey)
    gain = np.asarray(style.cast, dtype=np.float32) * np.exp(
        style.cast_std * rng.standard_normal(3) + style.exposure_std * rng.standard_normal()
    ).astype(np.float32)
    part_rgb = part_rgb * gain

    m = None  # (H, W) per-pixel brightness factor, built only from what the style uses
    if style.texture_low or style.texture_mid or style.texture_grain:
        amp = np.zeros((256, 3), dtype=np.float32)
        amp[:NUM_CLASSES] = _TEXTURE_PROFILE * np.array(
            [style.texture_low, style.texture_mid, style.texture_grain], dtype=np.float32)
        mod = amp[:, 0][label] * _smooth_noise(rng, h, w, (4, 8))
        mod += amp[:, 1][label] * _smooth_noise(rng, h, w, (max(2, h // 5), max(2, w // 5)))
        mod += amp[:, 2][label] * _noise(rng, (h, w))
        m = np.clip(1.0 + mod, 0.3, 2.0)

    if style.window_contrast or style.tile_contrast:
        # Screen-space patterns, period tied to the image height (resolution-independent);
        # separable, so built from 1-D row/column masks.
        period = max(h * 0.045, 2.0)
        ph = rng.uniform(0, 1, 2)
        u = np.arange(w) / period + ph[0]
        v = np.arange(h) / period + ph[1]
        pattern = np.zeros((h, w), dtype=np.float32)
        windows = ((v % 1.0) < 0.55)[:, None] & ((u % 1.0) < 0.5)[None, :]
        pattern[windows & (label == BUILDING)] = style.window_contrast
        tiles = ((v * 3.0 % 1.0) < 0.18)[:, None] | ((u * 1.5 % 1.0) < 0.18)[None, :]
        pattern[tiles & (label == SIDEWALK)] = style.tile_contrast
        slats = np.broadcast_to(((u * 2.0 % 1.0) < 0.4)[None, :], (h, w))
        pattern[slats & (label == FENCE)] = style.tile_contrast * 2.0
        m = 1.0 - pattern if m is None else m * (1.0 - pattern)

    yy, xx = _grid(h, w)
    haze = None
    if style.sky_gradient:
        # Sky only exists above the horizon: work on those rows.
        rows = min(h, int(math.ceil(layout.horizon)) + 1)
        t = np.clip(np.arange(rows, dtype=np.float32) / max(layout.horizon, 1.0), 0, 1)[:, None]
        sky = label[:rows] == SKY
        if m is None:
            m = np.ones((h, w), dtype=np.float32)
        m[:rows] *= np.where(sky, 1.0 + style.sky_gradient * (t - 0.5), 1.0)
        haze = np.zeros((h, w), dtype=np.float32)
        haze[:rows] = np.where(sky, style.sky_gradient * 120.0 * t ** 3, 0.0)

    if style.illumination:
        ang = rng.uniform(0, 2 * np.pi)
        k = style.illumination * rng.uniform(0.5, 1.0)
        light = (1.0 + k * ((xx - 0.5) * np.cos(ang) + (yy - 0.5) * np.sin(ang))
                 - 0.8 * k * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)).astype(np.float32)
        m = light if m is None else m * light

    img = part_rgb[layout.instances]  # (H, W, 3) float32
    if m is not None:
        img *= m[..., None]
    if haze is not None:
        img += haze[..., None] * gain

    out = np.clip(img, 0, 255).astype(np.uint8)
    if style.blur * h >= 0.05:
        out = np.asarray(Image.fromarray(out).filter(_blur_filter(style.blur * h)))
    if style.noise > 0:
        noisy = out + style.noise * _noise(rng, out.shape)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def generate_sample(seed: int, index: int, domain: Domain, height: int, width: int,
                    gap: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One benchmark sample: ``(image, label)``.

    image: (H, W, 3) uint8 RGB; label: (H, W) uint8 Cityscapes train ids (255 = ignore).
    A pure function of its arguments (the RNG is seeded from ``(seed, domain, index)``),
    so samples can be generated in any order or in parallel. ``gap`` in [0, 2] scales the
    target's departure from the source in both style and layout; the source ignores it.
    """
    _check_domain_gap(domain, gap)
    if height < 8 or width < 8:
        raise ValueError(f"image size must be at least 8x8, got {height}x{width}")
    lay, style = domain_params(domain, gap)
    layout_rng, render_rng = _rngs(seed, index, domain)
    layout = _layout_from_canvas(_draw_scene(layout_rng, lay, height, width))
    return _render(layout, style, render_rng), layout.label


# ---------------------------------------------------------------------------------------
# Prepared datasets
# ---------------------------------------------------------------------------------------

#: Index offset of each split: RNG streams (hence images) never repeat across splits.
SPLIT_OFFSETS: dict[str, int] = {"train": 0, "val": 1_000_000, "test": 2_000_000}


def _encoded_sample(args: tuple[int, int, str, int, int, float]) -> tuple[bytes, bytes]:
    from advent.data.prepared import encode_png
    image, label = generate_sample(*args)
    return encode_png(image), encode_png(label)


def prepare_synthetic(cfg: SyntheticConfig, domain: str, out_root: Path, workers: int = 1) -> None:
    """Write the prepared dataset of ``domain`` into the folder ``out_root`` (atomically).

    Source: split ``train``; target: ``train``, ``val``, ``test``. Sample ids are the
    generator indices (``train`` from 0, ``val`` from 1e6, ``test`` from 2e6), so no
    image is shared between splits. ``meta.json`` records the generator version, the
    config and the effective layout/style under ``"generator"``. ``workers > 1``
    generates in a spawned process pool (output identical to ``workers = 1``; call it
    from an importable script with an ``if __name__ == "__main__"`` guard).
    """
    from advent.data.prepared import PreparedWriter

    cfg.validate()
    if domain not in _DOMAIN_CODE:
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    lay, style = domain_params(domain, cfg.gap)  # type: ignore[arg-type]
    splits = cfg.splits(domain)  # type: ignore[arg-type]
    meta = {"generator": {
        "module": __name__, "version": GENERATOR_VERSION, "domain": domain,
        "config": dataclasses.asdict(cfg),
        "split_index_offsets": {s: SPLIT_OFFSETS[s] for s in splits},
        "layout": dataclasses.asdict(lay), "style": dataclasses.asdict(style),
    }}
    jobs = [(split, SPLIT_OFFSETS[split] + i) for split, n in splits.items() for i in range(n)]
    args = [(cfg.seed, idx, domain, cfg.height, cfg.width, cfg.gap) for _, idx in jobs]
    with PreparedWriter(out_root, f"synthetic-{domain}", "cityscapes19", (cfg.height, cfg.width),
                        extra_meta=meta) as writer:
        if workers > 1:
            import multiprocessing as mp
            with mp.get_context("spawn").Pool(workers) as pool:
                encoded = pool.imap(_encoded_sample, args, chunksize=16)
                for (split, idx), (img, lab) in zip(jobs, encoded):
                    writer.add_encoded(split, f"{idx:07d}", img, lab)
        else:
            for (split, idx), a in zip(jobs, args):
                writer.add_encoded(split, f"{idx:07d}", *_encoded_sample(a))
