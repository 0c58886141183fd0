"""Drawing of single objects onto a :class:`~advent.data.synthetic.canvas.Canvas`.

Each ``draw_*`` function draws one object at lateral position ``x`` (metres), standing at
depth ``z`` or running along depths ``z0..z1`` (fences, walls, buildings, hedges); random
shape details come from ``rng``. Where objects go is decided by
:mod:`advent.data.synthetic.layout`.
"""
from __future__ import annotations

import numpy as np

from advent.data.synthetic.canvas import (
    BICYCLE, BUILDING, BUS, CAMERA_HEIGHT, CAR, LIGHT, MOTORCYCLE, PERSON, POLE, RIDER, SIGN,
    TRAIN, VEGETATION, WALL, Billboard, Canvas,
)
from advent.data.synthetic.style import LayoutStats, clip01


def draw_person(c: Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    b = Billboard(c, x, z, PERSON)
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


def draw_two_wheeler(c: Canvas, rng: np.random.Generator, x: float, z: float,
                      motor: bool, ridden: bool) -> None:
    vehicle = MOTORCYCLE if motor else BICYCLE
    b = Billboard(c, x, z, vehicle)
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
        p = Billboard(c, x, z * 0.999, RIDER)
        sx, sy = seat
        p.poly([(sx - d * 0.02, sy + 0.1), (0.0, 0.25), (d * 0.12, 0.25), (sx + d * 0.14, sy + 0.05)],
               RIDER, 0.75)  # leg to the pedal
        top = (sx + d * 0.22, sy + 0.62)
        p.poly([(sx - d * 0.16, sy), (sx + d * 0.16, sy), (top[0] + d * 0.16, top[1]),
                (top[0] - d * 0.18, top[1])], RIDER)  # torso leaning forward
        p.line([(top[0] + d * 0.05, top[1] - 0.05), bar], 0.09, RIDER, 0.9)  # arm
        p.ellipse(top[0] + d * 0.06, top[1] + 0.17, 0.1, 0.12, RIDER, 1.3)  # head


def draw_vehicle(c: Canvas, rng: np.random.Generator, x: float, z: float, cls: int) -> None:
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
    if hb < CAMERA_HEIGHT:  # the top of the body is seen from above
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


def draw_pole(c: Canvas, rng: np.random.Generator, x: float, z: float, lay: LayoutStats) -> None:
    b = Billboard(c, x, z, POLE)
    height = rng.uniform(3.0, 7.0)
    b.rect(-0.07, 0, 0.07, height, POLE)
    toward_road = -1 if x > 0 else 1
    if rng.random() < clip01(lay.traffic_light_prob):
        light = Billboard(c, x, z * 0.999, LIGHT)
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
    if rng.random() < clip01(lay.sign_prob):
        sign = Billboard(c, x, z * 0.998, SIGN)
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


def draw_tree(c: Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    b = Billboard(c, x, z, VEGETATION)
    trunk = rng.uniform(1.8, 3.2)
    r = rng.uniform(1.3, 2.8)
    b.rect(-0.14, 0, 0.14, trunk + r * 0.5, VEGETATION, 0.6)
    for _ in range(int(rng.integers(3, 6))):
        b.ellipse(rng.normal(0, r * 0.35), trunk + r + rng.normal(0, r * 0.3),
                  r * rng.uniform(0.55, 0.85), r * rng.uniform(0.55, 0.85),
                  VEGETATION, float(rng.uniform(0.85, 1.15)))


def draw_strip(c: Canvas, x: float, z0: float, z1: float, height: float, cls: int,
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


def draw_building(c: Canvas, rng: np.random.Generator, x: float, z0: float, z1: float,
                  height: float) -> None:
    """A facade along depth [z0, z1] on the building line ``x``, with its end wall."""
    obj = c.new_object(BUILDING)
    back = x + (15 if x > 0 else -15)  # the end wall reaches 15 m away from the road
    c.quad3d([(back, z0, 0), (x, z0, 0), (x, z0, height), (back, z0, height)],
             BUILDING, 0.78, obj)  # the end wall facing us, in shadow
    c.quad3d([(x, z0, 0), (x, z1, 0), (x, z1, height), (x, z0, height)],
             BUILDING, float(rng.uniform(0.9, 1.1)), obj)
    if rng.random() < 0.5:  # shop fronts: darker ground floor
        c.quad3d([(x, z0, 0), (x, z1, 0), (x, z1, 3.2), (x, z0, 3.2)], BUILDING, 0.7, obj)


def draw_vegetation_block(c: Canvas, rng: np.random.Generator, x: float, z0: float, z1: float) -> None:
    """A bumpy tree line / hedge along depth [z0, z1] on the building line ``x``."""
    n = 12
    zz = np.linspace(z0, z1, n)
    tops = rng.uniform(2.0, 9.0) + np.abs(rng.normal(0, 1.2, n)) * rng.uniform(0.5, 2.0)
    pts = [(x, z0, 0.0)] + [(x, float(a), float(t)) for a, t in zip(zz, tops)] + [(x, z1, 0.0)]
    c.quad3d(pts, VEGETATION, float(rng.uniform(0.8, 1.0)))
