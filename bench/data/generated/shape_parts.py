"""Procedural object categories built from parametric parts, as signed distance fields.

Each category (chair, table, lamp, mug, bottle, airplane, car, sofa) draws its part sizes from a seeded
generator, so instances of one category share a structure and differ in proportions (the per-instance
variation of ShapeNet's classes). An object is a union of solid parts minus a union of carved parts;
its signed distance (negative inside) gives both the watertight surface (marching cubes) and the
occupancy of any grid (the voxels), so mesh and voxels agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CATEGORIES = ("chair", "table", "lamp", "mug", "bottle", "airplane", "car", "sofa")
_AXES = {"x": 0, "y": 1, "z": 2}


@dataclass(frozen=True)
class Part:
    """One solid part: kind box (half extents ``size``), cylinder (radius, half height) along ``axis``,
    ellipsoid (radii) or torus (major, minor) around ``axis``; centred at ``centre``."""

    kind: str
    centre: tuple[float, float, float]
    size: tuple[float, ...]
    axis: str = "y"
    carve: bool = False

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """Signed distance (P,) of points p (P, 3); negative inside (exact for box/cylinder/torus)."""
        q = p - np.asarray(self.centre)
        a = _AXES[self.axis]
        others = [i for i in range(3) if i != a]
        if self.kind == "box":
            d = np.abs(q) - np.asarray(self.size)
            return np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(1), 0)
        if self.kind == "cylinder":
            r, h = self.size
            d = np.stack([np.linalg.norm(q[:, others], axis=1) - r, np.abs(q[:, a]) - h], 1)
            return np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(1), 0)
        if self.kind == "ellipsoid":
            radii = np.asarray(self.size)
            return (np.linalg.norm(q / radii, axis=1) - 1.0) * radii.min()
        if self.kind == "torus":
            big, small = self.size
            ring = np.linalg.norm(q[:, others], axis=1) - big
            return np.sqrt(ring**2 + q[:, a] ** 2) - small
        raise ValueError(f"part kind {self.kind!r}: expected box, cylinder, ellipsoid or torus")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (lo (3,), hi (3,))."""
        c = np.asarray(self.centre, dtype=np.float64)
        a = _AXES[self.axis]
        if self.kind in ("box", "ellipsoid"):
            h = np.asarray(self.size, dtype=np.float64)
        elif self.kind == "cylinder":
            h = np.full(3, self.size[0])
            h[a] = self.size[1]
        else:
            h = np.full(3, self.size[0] + self.size[1])
            h[a] = self.size[1]
        return c - h, c + h


def object_sdf(parts: list[Part], p: np.ndarray) -> np.ndarray:
    """Signed distance of the union of the solid parts minus the union of the carved ones, at p (P, 3)."""
    solid = np.min([q.sdf(p) for q in parts if not q.carve], axis=0)
    carved = [q.sdf(p) for q in parts if q.carve]
    return np.maximum(solid, -np.min(carved, axis=0)) if carved else solid


def fit_in_ball(parts: list[Part], radius: float) -> list[Part]:
    """The parts scaled and moved so the solid parts' bounding box is centred at 0 with its corners within
    ``radius`` (so any camera rotation keeps the object inside the cube [-1, 1]^3 when radius < 1)."""
    lo = np.min([q.bounds()[0] for q in parts if not q.carve], axis=0)
    hi = np.max([q.bounds()[1] for q in parts if not q.carve], axis=0)
    centre, s = 0.5 * (lo + hi), radius / (0.5 * float(np.linalg.norm(hi - lo)))
    return [Part(q.kind, tuple(((np.asarray(q.centre) - centre) * s).tolist()), tuple(v * s for v in q.size),
                 q.axis, q.carve) for q in parts]


def _legs(w: float, d: float, y: float, h: float, t: float, kind: str = "box") -> list[Part]:
    """Four legs of half-thickness t at the corners (+-w, +-d), spanning y-h .. y+h."""
    size = (t, h, t) if kind == "box" else (t, h)
    return [Part(kind, (sx * w, y, sz * d), size) for sx in (-1, 1) for sz in (-1, 1)]


def chair(u: Callable[[float, float], float]) -> list[Part]:
    w, d, leg, seat_t, back = u(0.35, 0.5), u(0.35, 0.5), u(0.35, 0.6), u(0.04, 0.07), u(0.4, 0.8)
    t = u(0.035, 0.06)
    return [Part("box", (0, 0, 0), (w, seat_t, d)),
            Part("box", (0, seat_t + back / 2, -d + 0.04), (w, back / 2, 0.04)),
            *_legs(w - t, d - t, -seat_t - leg / 2, leg / 2, t)]


def table(u: Callable[[float, float], float]) -> list[Part]:
    w, d, leg, top_t, t = u(0.5, 0.9), u(0.35, 0.6), u(0.4, 0.7), u(0.03, 0.06), u(0.035, 0.07)
    round_top = u(0, 1) < 0.3
    top = Part("cylinder", (0, 0, 0), (w * 0.8, top_t)) if round_top else Part("box", (0, 0, 0), (w, top_t, d))
    legs = [Part("cylinder", (0, -top_t - leg / 2, 0), (t * 1.5, leg / 2)),
            Part("cylinder", (0, -top_t - leg + 0.03, 0), (w * 0.4, 0.03))] if round_top else \
        _legs(w - t, d - t, -top_t - leg / 2, leg / 2, t)
    return [top, *legs]


def lamp(u: Callable[[float, float], float]) -> list[Part]:
    base_r, pole_h, pole_r, shade_r, shade_h = u(0.2, 0.35), u(0.5, 0.9), u(0.03, 0.05), u(0.2, 0.4), u(0.12, 0.25)
    return [Part("cylinder", (0, 0, 0), (base_r, 0.04)),
            Part("cylinder", (0, pole_h / 2, 0), (pole_r, pole_h / 2)),
            Part("cylinder", (0, pole_h + shade_h * 0.6, 0), (shade_r, shade_h)),
            Part("cylinder", (0, pole_h + shade_h * 0.6 - 0.05, 0), (shade_r * 0.8, shade_h), carve=True)]


def mug(u: Callable[[float, float], float]) -> list[Part]:
    r, h, wall = u(0.3, 0.45), u(0.3, 0.5), u(0.05, 0.08)
    return [Part("cylinder", (0, 0, 0), (r, h)),
            Part("cylinder", (0, wall + 0.01, 0), (r - wall, h), carve=True),
            Part("torus", (r + 0.02, 0, 0), (h * 0.45, u(0.035, 0.06)), axis="z")]


def bottle(u: Callable[[float, float], float]) -> list[Part]:
    r, h, neck_r, neck_h = u(0.18, 0.32), u(0.35, 0.6), u(0.06, 0.1), u(0.15, 0.3)
    return [Part("cylinder", (0, 0, 0), (r, h)),
            Part("ellipsoid", (0, h, 0), (r, u(0.08, 0.2), r)),
            Part("cylinder", (0, h + neck_h, 0), (neck_r, neck_h))]


def airplane(u: Callable[[float, float], float]) -> list[Part]:
    length, body_r, span, chord = u(0.8, 1.0), u(0.07, 0.12), u(0.6, 1.0), u(0.12, 0.22)
    wing_z, tail = u(-0.1, 0.15), u(0.15, 0.3)
    return [Part("cylinder", (0, 0, 0), (body_r, length), axis="z"),
            Part("ellipsoid", (0, 0, length), (body_r, body_r, body_r * 2)),
            Part("box", (0, 0, wing_z), (span, 0.03, chord)),
            Part("box", (0, 0, -length + 0.08), (tail * 1.2, 0.025, 0.08)),
            Part("box", (0, tail / 2 + body_r * 0.5, -length + 0.08), (0.025, tail / 2, 0.08))]


def car(u: Callable[[float, float], float]) -> list[Part]:
    length, width, body_h, cabin_h, wheel_r = u(0.8, 1.0), u(0.35, 0.45), u(0.1, 0.16), u(0.1, 0.18), u(0.11, 0.16)
    cabin_len = u(0.35, 0.6)
    wheels = [Part("cylinder", (sx * (width - 0.04), -body_h, sz * length * 0.65), (wheel_r, 0.06), axis="x")
              for sx in (-1, 1) for sz in (-1, 1)]
    return [Part("box", (0, 0, 0), (width, body_h, length)),
            Part("box", (0, body_h + cabin_h, u(-0.15, 0.05)), (width * 0.85, cabin_h, cabin_len)), *wheels]


def sofa(u: Callable[[float, float], float]) -> list[Part]:
    w, d, seat_h, back_h, arm = u(0.7, 1.0), u(0.3, 0.45), u(0.12, 0.2), u(0.2, 0.35), u(0.08, 0.14)
    return [Part("box", (0, 0, 0), (w, seat_h, d)),
            Part("box", (0, seat_h + back_h, -d + 0.08), (w, back_h, 0.08)),
            Part("box", (-w + arm, seat_h + back_h * 0.4, 0), (arm, back_h * 0.4, d)),
            Part("box", (w - arm, seat_h + back_h * 0.4, 0), (arm, back_h * 0.4, d))]


BUILDERS: dict[str, Callable[[Callable[[float, float], float]], list[Part]]] = {
    "chair": chair, "table": table, "lamp": lamp, "mug": mug, "bottle": bottle, "airplane": airplane,
    "car": car, "sofa": sofa}


def make_instance(category: str, rng: np.random.Generator, radius: float = 0.95) -> list[Part]:
    """The parts of one seeded instance of ``category``, fitted in the ball of ``radius``."""
    if category not in BUILDERS:
        raise ValueError(f"category {category!r}: expected one of {', '.join(CATEGORIES)}")
    return fit_in_ball(BUILDERS[category](lambda lo, hi: float(rng.uniform(lo, hi))), radius)
