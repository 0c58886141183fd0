"""What separates the two domains: the knobs of the procedural benchmark.

:class:`LayoutStats` (where things are: horizon, road width, object densities) and
:class:`DomainStyle` (how they are painted: palette, textures, lighting, blur, noise) are
frozen dataclasses whose defaults are the source ("game") domain. ``TARGET_LAYOUT`` and
``TARGET_STYLE`` are the target ("photo") domain at ``gap = 1``; :func:`domain_params`
interpolates field by field between the two, so ``gap`` is the one difficulty knob.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Literal

from advent.params import MAX_SYNTHETIC_GAP

Domain = Literal["source", "target"]
#: Each domain's own RNG stream (part of the seed, see ``sample.rngs``).
DOMAIN_CODE = {"source": 0, "target": 1}

RGB = tuple[float, float, float]
Palette = tuple[RGB, ...]


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
    fixed per-class profile (``render.TEXTURE_PROFILE``) of low-, mid- and pixel-frequency
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


def clip01(p: float) -> float:
    """A probability knob clipped to [0, 1] (``gap > 1`` can extrapolate past either end)."""
    return min(max(p, 0.0), 1.0)


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


def check_domain_gap(domain: str, gap: float) -> None:
    """One clear error for an unknown domain or a gap outside [0, MAX_SYNTHETIC_GAP]."""
    if domain not in DOMAIN_CODE:
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
    check_domain_gap(domain, gap)
    if domain == "source":
        return SOURCE_LAYOUT, SOURCE_STYLE
    return _lerp(SOURCE_LAYOUT, TARGET_LAYOUT, gap), _lerp(SOURCE_STYLE, TARGET_STYLE, gap)
