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

Modules: ``style`` (the knobs: LayoutStats, DomainStyle, presets, gap interpolation),
``canvas`` (class ids, camera, label canvas), ``objects`` (drawing single objects),
``layout`` (scene composition), ``render`` (painting a layout with a style), ``sample``
(seeding, :func:`generate_layout`, :func:`generate_sample`) and ``writer``
(:func:`prepare_synthetic`: the prepared datasets).
"""
from advent.data.synthetic.canvas import (
    BICYCLE, BUILDING, BUS, CAR, FENCE, LIGHT, MOTORCYCLE, NUM_CLASSES, OBJECT_CLASSES, PERSON,
    POLE, RIDER, ROAD, SIDEWALK, SIGN, SKY, TERRAIN, TRAIN, TRUCK, VEGETATION, WALL, SceneLayout,
)
from advent.data.synthetic.sample import GENERATOR_VERSION, generate_layout, generate_sample
from advent.data.synthetic.style import (
    SOURCE_LAYOUT, SOURCE_STYLE, TARGET_LAYOUT, TARGET_STYLE, Domain, DomainStyle, LayoutStats,
    domain_params,
)
from advent.data.synthetic.writer import GENERATOR_MODULE, SPLIT_OFFSETS, prepare_synthetic

__all__ = [
    "ROAD", "SIDEWALK", "BUILDING", "WALL", "FENCE", "POLE", "LIGHT", "SIGN", "VEGETATION",
    "TERRAIN", "SKY", "PERSON", "RIDER", "CAR", "TRUCK", "BUS", "TRAIN", "MOTORCYCLE", "BICYCLE",
    "NUM_CLASSES", "OBJECT_CLASSES", "SceneLayout",
    "Domain", "LayoutStats", "DomainStyle", "SOURCE_LAYOUT", "SOURCE_STYLE", "TARGET_LAYOUT",
    "TARGET_STYLE", "domain_params",
    "GENERATOR_VERSION", "generate_layout", "generate_sample",
    "GENERATOR_MODULE", "SPLIT_OFFSETS", "prepare_synthetic",
]
