"""Scene composition: where the road, the roadside and the objects of one scene go.

:func:`draw_scene` samples a camera and a street cross-section from a domain's
:class:`~advent.data.synthetic.style.LayoutStats`, then draws back to front: the
distant skyline, the ground (terrain, sidewalks, road and its markings), facades
closing the road, roadside buildings and vegetation, fences and walls, the objects
(vehicles, trees, poles, persons, two-wheelers) sorted far to near so near ones occlude
far ones, and last the ego-vehicle hood. All random draws come from one generator in a
fixed order: the layout is a pure function of the generator's seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from advent.data.labels import IGNORE_INDEX
from advent.data.synthetic.canvas import (
    BUILDING, BUS, CAR, FENCE, ROAD, SIDEWALK, TERRAIN, TRAIN, TRUCK, VEGETATION, WALL, Canvas,
)
from advent.data.synthetic.objects import (
    draw_building, draw_person, draw_pole, draw_strip, draw_tree, draw_two_wheeler,
    draw_vegetation_block, draw_vehicle,
)
from advent.data.synthetic.style import LayoutStats, clip01

Z_FAR = 400.0  # metres: how far an open road is drawn

#: An object to draw once all are placed: (depth z, draw function, its arguments after
#: the canvas and the generator).
Placement = tuple[float, Callable[..., None], tuple]


@dataclass(frozen=True)
class Roadside:
    """One side of the road; lateral distances in metres from the camera (x = 0)."""

    edge: float      # |x| of the kerb
    sidewalk: float  # sidewalk width
    terrain: float   # grass strip between sidewalk and building line (0 = none)

    @property
    def building_line(self) -> float:
        return self.edge + self.sidewalk + self.terrain


@dataclass(frozen=True)
class Street:
    """The road cross-section and its extent in depth (metres)."""

    sides: dict[int, Roadside]  # -1 = left, 1 = right
    road_end: float             # depth of the facades closing the view; Z_FAR = open road
    z_near: float               # nearest drawn depth (the bottom image row, at least 1 m)

    @property
    def object_depths(self) -> tuple[float, float]:
        """Depth range objects are placed in: beyond the bonnet, short of the road end."""
        return max(self.z_near * 0.95, 2.5), min(self.road_end - 2.0, 70.0)


def draw_scene(rng: np.random.Generator, lay: LayoutStats, height: int, width: int) -> Canvas:
    """The label canvas of one (height, width) scene drawn with the statistics ``lay``."""
    c = _camera(rng, lay, height, width)
    street = _street(rng, lay, c)
    _draw_skyline(c, rng, lay)
    _draw_ground(c, rng, lay, street)
    if street.road_end < Z_FAR:
        _draw_road_end(c, rng, lay, street.road_end)
    for s in street.sides:
        _draw_roadside(c, rng, lay, street, s)
    _draw_fences_and_walls(c, rng, lay, street)
    placed: list[Placement] = []
    for place in (_place_vehicles, _place_trees, _place_poles, _place_persons, _place_two_wheelers):
        placed += place(rng, lay, street)
    for _, draw, args in sorted(placed, key=lambda p: -p[0]):  # far to near (stable on ties)
        draw(c, rng, *args)
    _draw_ego_hood(c, rng, lay)
    return c


# -- random helpers -------------------------------------------------------------------

def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo * 1.01)))))


def _count(rng: np.random.Generator, rate: float) -> int:
    """A Poisson count (an extrapolated ``gap`` can push a rate below 0)."""
    return int(rng.poisson(max(rate, 0.0)))


def _random_side(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


# -- camera and street ----------------------------------------------------------------

def _camera(rng: np.random.Generator, lay: LayoutStats, height: int, width: int) -> Canvas:
    """A canvas whose horizon row and vanishing column are jittered around the domain's."""
    horizon = height * float(np.clip(rng.normal(lay.horizon_mean, max(lay.horizon_std, 0.0)), 0.2, 0.7))
    cx = width * (0.5 + float(np.clip(rng.normal(0, max(lay.vanishing_x_std, 0.0)), -0.25, 0.25)))
    return Canvas(height, width, horizon, cx, lay.focal * width)


def _street(rng: np.random.Generator, lay: LayoutStats, c: Canvas) -> Street:
    offset = float(np.clip(rng.normal(0, max(lay.lateral_offset_std, 0.0)), -2.0, 2.0))
    road_half = max(2.5, rng.normal(lay.road_half_width, 0.6))
    edges = {-1: road_half + offset, 1: road_half - offset}
    sides: dict[int, Roadside] = {}
    for s in (-1, 1):
        sidewalk = max(1.2, rng.normal(lay.sidewalk_width, 0.5))
        terrain = rng.uniform(1.5, 4.0) if rng.random() < clip01(lay.terrain_strip_prob) else 0.0
        sides[s] = Roadside(edges[s], sidewalk, terrain)
    road_end = rng.uniform(35.0, 110.0) if rng.random() < clip01(lay.road_end_prob) else Z_FAR
    return Street(sides, road_end, z_near=max(c.z_bottom, 1.0))


# -- static scenery, back to front ----------------------------------------------------

def _draw_skyline(c: Canvas, rng: np.random.Generator, lay: LayoutStats) -> None:
    """A band of distant buildings and tree lines on the horizon (the sky is part 0)."""
    horizon, height, width = c.h0, c.h, c.w
    xs = -0.05 * width
    while xs < width * 1.05:
        wpx = width * rng.uniform(0.03, 0.12)
        if rng.random() < clip01(lay.skyline_building_share):
            top = horizon - height * rng.uniform(0.02, 0.12)
            c.rect(xs, top, xs + wpx, horizon + 1, BUILDING, float(rng.uniform(0.8, 1.0)))
        else:
            rad = wpx * 0.6
            c.ellipse(xs + wpx / 2, horizon - rad * 0.4, rad, rad * 0.7, VEGETATION, 0.85)
            c.rect(xs, horizon - rad * 0.4, xs + wpx, horizon + 1, VEGETATION, 0.85)
        xs += wpx


def _draw_ground(c: Canvas, rng: np.random.Generator, lay: LayoutStats, street: Street) -> None:
    """Terrain everywhere below the horizon (it stays visible as grass strips), then
    sidewalks with kerbs, the road and, often, its markings."""
    c.rect(-1, c.h0, c.w + 1, c.h + 1, TERRAIN)
    zn, zf = street.z_near * 0.6, street.road_end
    for s, side in street.sides.items():
        e, sw = side.edge, side.sidewalk
        c.quad3d([(s * e, zn, 0), (s * (e + sw), zn, 0), (s * (e + sw), zf, 0), (s * e, zf, 0)], SIDEWALK)
        c.quad3d([(s * e, zn, 0), (s * (e + 0.25), zn, 0), (s * (e + 0.25), zf, 0), (s * e, zf, 0)],
                 SIDEWALK, 1.15)  # kerb stones
    left, right = street.sides[-1].edge, street.sides[1].edge
    road = c.new_object(ROAD)
    c.quad3d([(-left, zn, 0), (right, zn, 0), (right, zf, 0), (-left, zf, 0)], ROAD, 1.0, road)
    if rng.random() < clip01(lay.lane_marking_prob):
        xm = (right - left) / 2
        zd = rng.uniform(0, 9.0) + zn
        while zd < min(zf, 120.0):  # dashed centre line
            c.quad3d([(xm - 0.08, zd, 0), (xm + 0.08, zd, 0), (xm + 0.08, zd + 3, 0), (xm - 0.08, zd + 3, 0)],
                     ROAD, 2.0, road)
            zd += 9.0
        for s in (-1, 1):  # solid edge lines
            xe = s * (street.sides[s].edge - 0.3)
            c.quad3d([(xe - 0.07, zn, 0), (xe + 0.07, zn, 0), (xe + 0.07, zf, 0), (xe - 0.07, zf, 0)],
                     ROAD, 1.8, road)


def _draw_road_end(c: Canvas, rng: np.random.Generator, lay: LayoutStats, road_end: float) -> None:
    """A row of facades across the road at depth ``road_end``."""
    xe = -60.0
    while xe < 60.0:
        wb = rng.uniform(8, 20)
        hb = rng.uniform(lay.building_height_min, lay.building_height_max)
        c.quad3d([(xe, road_end, 0), (xe + wb, road_end, 0), (xe + wb, road_end, hb), (xe, road_end, hb)],
                 BUILDING, float(rng.uniform(0.85, 1.05)))
        xe += wb


def _roadside_segments(rng: np.random.Generator, street: Street) -> list[tuple[float, float]]:
    """Consecutive (z0, z1) depth intervals along one side, now and then with a gap."""
    segs: list[tuple[float, float]] = []
    z0 = max(street.z_near * 0.6, 1.0)
    while z0 < min(street.road_end, 150.0):
        length = rng.uniform(8.0, 30.0)
        segs.append((z0, min(z0 + length, street.road_end)))
        z0 += length + (rng.uniform(2, 8) if rng.random() < 0.25 else 0.0)
    return segs


def _draw_roadside(c: Canvas, rng: np.random.Generator, lay: LayoutStats, street: Street,
                   s: int) -> None:
    """Side ``s`` along the building line, far to near: a building, a vegetation block or
    an opening per segment."""
    xb = s * street.sides[s].building_line
    for z0, z1 in reversed(_roadside_segments(rng, street)):
        if rng.random() < clip01(lay.building_prob):
            height = rng.uniform(lay.building_height_min, lay.building_height_max)
            draw_building(c, rng, xb, z0, z1, height)
        elif rng.random() < clip01(lay.vegetation_block_prob):
            draw_vegetation_block(c, rng, xb, z0, z1)


def _draw_fences_and_walls(c: Canvas, rng: np.random.Generator, lay: LayoutStats,
                           street: Street) -> None:
    """Fences and walls along the back of the sidewalk."""
    for cls, rate in ((FENCE, lay.fence_rate), (WALL, lay.wall_rate)):
        for _ in range(_count(rng, rate)):
            s = _random_side(rng)
            side = street.sides[s]
            z0 = _log_uniform(rng, street.z_near, 60.0)
            z1 = z0 + rng.uniform(6.0, 30.0)
            x = s * (side.edge + side.sidewalk)
            if cls == FENCE:
                draw_strip(c, x, z0, z1, rng.uniform(1.0, 1.8), FENCE, posts=2.5)
            else:
                draw_strip(c, x, z0, z1, rng.uniform(0.7, 2.2), WALL)


def _draw_ego_hood(c: Canvas, rng: np.random.Generator, lay: LayoutStats) -> None:
    """The ego-vehicle hood at the bottom, labelled ignore (as in Cityscapes)."""
    if rng.random() < clip01(lay.ego_hood_prob):
        hood = c.h * rng.uniform(0.06, 0.12)
        c.ellipse(c.w / 2, c.h + hood * 2.2, c.w * 0.75, hood * 3.2, IGNORE_INDEX)


# -- objects: placed first, drawn far to near by draw_scene ---------------------------

def _place_vehicles(rng: np.random.Generator, lay: LayoutStats, street: Street) -> list[Placement]:
    """Trams, trucks / buses and cars in the two lanes or parked at the kerb, without
    overlapping one another (up to four tries each)."""
    z_min, z_max = street.object_depths
    left, right = street.sides[-1].edge, street.sides[1].edge
    lanes = [-left / 2, right / 2]
    occupied: list[tuple[float, float, float]] = []  # (x, z0, z1) of vehicles

    def free(x: float, z0: float, z1: float) -> bool:
        return all(abs(x - ox) > 1.8 or z1 < oz0 - 1.0 or z0 > oz1 + 1.0 for ox, oz0, oz1 in occupied)

    kinds = [TRAIN] * _count(rng, lay.tram_rate)
    kinds += [BUS if rng.random() < 0.5 else TRUCK for _ in range(_count(rng, lay.big_vehicle_rate))]
    kinds += [CAR] * _count(rng, lay.car_rate)
    placed: list[Placement] = []
    for cls in kinds:
        length = {CAR: 4.5, TRAIN: 25.0}.get(cls, 12.0)
        for _attempt in range(4):
            if cls != TRAIN and rng.random() < 0.35:  # parked at the kerb
                s = _random_side(rng)
                x = s * (street.sides[s].edge - 1.1)
            else:
                x = lanes[int(rng.integers(2))] + rng.normal(0, 0.3)
            z = _log_uniform(rng, z_min + 1.0, z_max)
            if abs(x) < 1.5 and z < 7.0:  # nothing right in front of the bonnet
                continue
            if free(x, z, z + length):
                occupied.append((x, z, z + length))
                placed.append((z, draw_vehicle, (x, z, cls)))
                break
    return placed


def _place_trees(rng: np.random.Generator, lay: LayoutStats, street: Street) -> list[Placement]:
    """Trees in the grass strip where there is one, else on the sidewalk."""
    z_min, z_max = street.object_depths
    placed: list[Placement] = []
    for _ in range(_count(rng, lay.tree_rate)):
        s = _random_side(rng)
        side = street.sides[s]
        x = s * ((side.edge + side.sidewalk + side.terrain / 2) if side.terrain > 0 else (side.edge + 0.9))
        z = _log_uniform(rng, z_min, z_max)
        placed.append((z, draw_tree, (x, z)))
    return placed


def _place_poles(rng: np.random.Generator, lay: LayoutStats, street: Street) -> list[Placement]:
    """Poles (with signs, traffic lights, lamps) just behind the kerb."""
    z_min, z_max = street.object_depths
    placed: list[Placement] = []
    for _ in range(_count(rng, lay.pole_rate)):
        s = _random_side(rng)
        x = s * (street.sides[s].edge + 0.45)
        z = _log_uniform(rng, z_min, z_max)
        placed.append((z, draw_pole, (x, z, lay)))
    return placed


def _place_persons(rng: np.random.Generator, lay: LayoutStats, street: Street) -> list[Placement]:
    """Persons on the sidewalks, one in ten crossing the road."""
    z_min, z_max = street.object_depths
    left, right = street.sides[-1].edge, street.sides[1].edge
    placed: list[Placement] = []
    for _ in range(_count(rng, lay.person_rate)):
        s = _random_side(rng)
        side = street.sides[s]
        if rng.random() < 0.1:  # crossing the road
            x = rng.uniform(-left, right)
        else:
            x = s * rng.uniform(side.edge + 0.5, side.edge + side.sidewalk - 0.3)
        z = _log_uniform(rng, z_min, z_max)
        placed.append((z, draw_person, (x, z)))
    return placed


def _place_two_wheelers(rng: np.random.Generator, lay: LayoutStats, street: Street) -> list[Placement]:
    """Cyclists and motorcyclists riding near the kerb, bicycles parked on the sidewalk."""
    z_min, z_max = street.object_depths
    placed: list[Placement] = []
    for rate, motor, ridden in ((lay.cyclist_rate, False, True), (lay.motorcyclist_rate, True, True),
                                (lay.parked_bicycle_rate, False, False)):
        for _ in range(_count(rng, rate)):
            s = _random_side(rng)
            side = street.sides[s]
            if ridden:
                x = s * (side.edge - rng.uniform(0.6, 1.4))
            else:
                x = s * (side.edge + side.sidewalk - 0.5)
            z = _log_uniform(rng, z_min, z_max)
            placed.append((z, draw_two_wheeler, (x, z, motor, ridden)))
    return placed
