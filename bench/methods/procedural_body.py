"""The built-in procedural body: a human-like tube mesh on SMPL's 24-joint tree, in SMPL's file layout.

Not SMPL and never called so: a template of tubes around the bones (elliptic rings, a rounded head),
skinning weights that blend each bone's rings into its parent near the joint, shape blend shapes from a
PCA of 500 generated figures (ten proportions: height, leg, arm and torso length, shoulder and hip
width, limb and torso girth, head size, chest depth), a joint regressor that averages the ring of
vertices centred on each joint (exact for every shape), and small pose blend shapes near the joints.
Axes as SMPL's: y up, the body faces +z, its left side is +x, so SMPLify's bending-prior indices apply.
"""

from __future__ import annotations

import functools

import numpy as np

from bench.methods.body_model import BodyModel

JOINT_NAMES = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
               "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
               "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hand", "right_hand")
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
NUM_BETAS = 10
SIDES, RINGS = 10, 5

# joint offset from its parent at mean proportions (metres), the proportion scaling it, left side (+x)
_OFFSETS = {1: ((0.09, -0.08, 0.0), "hip"), 4: ((0.0, -0.40, 0.0), "leg"), 7: ((0.0, -0.40, 0.0), "leg"),
            10: ((0.0, -0.06, 0.11), "leg"), 3: ((0.0, 0.10, 0.0), "torso"), 6: ((0.0, 0.13, 0.0), "torso"),
            9: ((0.0, 0.06, 0.0), "torso"), 12: ((0.0, 0.21, 0.0), "torso"), 13: ((0.07, 0.14, 0.0), "shoulder"),
            15: ((0.0, 0.08, 0.02), "head"), 16: ((0.11, 0.0, 0.0), "shoulder"), 18: ((0.26, 0.0, 0.0), "arm"),
            20: ((0.25, 0.0, 0.0), "arm"), 22: ((0.08, 0.0, 0.0), "arm")}
_MIRROR = {2: 1, 5: 4, 8: 7, 11: 10, 14: 13, 17: 16, 19: 18, 21: 20, 23: 22}
# leaf ends (offset from the leaf joint): toes, head top, finger tips
_ENDS = {10: ((0.0, 0.0, 0.07), "leg"), 11: ((0.0, 0.0, 0.07), "leg"), 15: ((0.0, 0.20, 0.0), "head"),
         22: ((0.07, 0.0, 0.0), "arm"), 23: ((-0.07, 0.0, 0.0), "arm")}
# radius (start, end) of the segment owned by a joint (to each child / its end); torso rings are elliptic
_RADII = {0: (0.13, 0.13), 1: (0.085, 0.06), 4: (0.06, 0.045), 7: (0.045, 0.04), 10: (0.04, 0.03),
          3: (0.13, 0.13), 6: (0.14, 0.14), 9: (0.14, 0.06), 12: (0.055, 0.05), 13: (0.05, 0.05),
          15: (0.09, 0.01), 16: (0.05, 0.042), 18: (0.04, 0.03), 20: (0.03, 0.025), 22: (0.025, 0.015)}
TORSO = {0, 3, 6, 9}
PROPORTIONS = ("height", "leg", "arm", "torso", "shoulder", "hip", "limb_girth", "torso_girth", "head", "depth")
PROPORTION_STD = (0.05, 0.06, 0.06, 0.06, 0.08, 0.08, 0.15, 0.15, 0.06, 0.12)


def _radii(j: int) -> tuple[float, float]:
    return _RADII[_MIRROR.get(j, j)]


def _segments() -> list[tuple[int, int | None]]:
    """(owner joint, child joint or None for a leaf end) per tube; the owner's rotation moves the tube."""
    segs = [(PARENTS[c], c) for c in range(1, 24)] + [(j, None) for j in _ENDS]
    return sorted(segs, key=lambda s: (s[0], -1 if s[1] is None else s[1]))


SEGMENTS = _segments()


def skeleton(props: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Rest joints (N, 24, 3) and leaf ends {joint: (N, 3)} for proportions ``props`` (N, 10) (1 = mean)."""
    p = {k: props[:, i, None] for i, k in enumerate(PROPORTIONS)}
    joints = np.zeros((len(props), 24, 3))
    for j in range(1, 24):
        src = _MIRROR.get(j, j)
        off, kind = _OFFSETS[src]
        off = np.array(off) * p[kind] * p["height"]
        if src != j:
            off[:, 0] = -off[:, 0]
        joints[:, j] = joints[:, PARENTS[j]] + off
    ends = {j: joints[:, j] + np.array(off) * p[kind] * p["height"] for j, (off, kind) in _ENDS.items()}
    return joints, ends


def _frame(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (N, 3) u, v perpendicular to directions d (N, 3), u as close to +z (or +x) as possible."""
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    ref = np.where(np.abs(d[:, 2:]) < 0.9, np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    u = ref - d * (ref * d).sum(1, keepdims=True)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u, np.cross(d, u)


def _ring_radius(owner: int, t: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """(N, RINGS) radius of the rings at parameters t (RINGS,) of the tube owned by ``owner``."""
    r0, r1 = _radii(owner)
    if owner == 15:  # head: a rounded profile closing at the top
        return r0 * p["limb_girth"] * p["head"] * np.sqrt(np.clip(1.0 - (2 * t - 1) ** 2, 0.0, None) * 0.9 + 0.1)
    girth = p["torso_girth"] if owner in TORSO else p["limb_girth"]
    return (r0 + (r1 - r0) * t) * girth * p["height"]


def build_vertices(props: np.ndarray) -> np.ndarray:
    """Vertices (N, V, 3) of the figures with proportions ``props`` (N, 10), vectorised over figures."""
    p = {k: props[:, i, None] for i, k in enumerate(PROPORTIONS)}
    joints, ends = skeleton(props)
    t = np.linspace(0.0, 1.0, RINGS)
    ang = 2 * np.pi * np.arange(SIDES) / SIDES
    out = []
    for owner, child in SEGMENTS:
        start, end = joints[:, owner], (ends[owner] if child is None else joints[:, child])
        u, v = _frame(end - start)
        r = _ring_radius(owner, t, p)[:, :, None, None]  # (N, R, 1, 1)
        depth = p["depth"][:, :, None, None] * (0.65 if owner in TORSO else 1.0)
        c = start[:, None] + (end - start)[:, None] * t[None, :, None]  # (N, R, 3)
        ring = (r * depth * np.cos(ang)[None, None, :, None] * u[:, None, None]
                + r * np.sin(ang)[None, None, :, None] * v[:, None, None])
        out.append((c[:, :, None] + ring).reshape(len(props), -1, 3))
    return np.concatenate(out, 1)


def topology() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """faces (F, 3), skin weights (V, 24) and joint regressor (24, V), the same for every figure."""
    faces, weights = [], []
    regressor = np.zeros((24, len(SEGMENTS) * RINGS * SIDES))
    for s, (owner, _) in enumerate(SEGMENTS):
        base = s * RINGS * SIDES
        for i in range(RINGS):
            blend = 1.0 if PARENTS[owner] < 0 else float(np.clip(i / (RINGS - 1) / 0.3, 0.0, 1.0))
            blend = blend * blend * (3 - 2 * blend)  # smoothstep into the parent near the joint
            w = np.zeros(24)
            w[owner] += blend
            if PARENTS[owner] >= 0:
                w[PARENTS[owner]] += 1.0 - blend
            weights += [w] * SIDES
            if i > 0:
                for k in range(SIDES):
                    a0, a1 = base + (i - 1) * SIDES + k, base + (i - 1) * SIDES + (k + 1) % SIDES
                    faces += [(a0, a1, a1 + SIDES), (a0, a1 + SIDES, a0 + SIDES)]
        if not regressor[owner].any():  # the first ring of the owner's first tube is centred on the joint
            regressor[owner, base: base + SIDES] = 1.0 / SIDES
    return np.asarray(faces, dtype=np.int64), np.asarray(weights), regressor


def head_top_vertex() -> int:
    """Index of a vertex of the head's top ring (the LSP head-top keypoint)."""
    idx = SEGMENTS.index((15, None))
    return idx * RINGS * SIDES + (RINGS - 1) * SIDES


@functools.lru_cache(maxsize=2)
def body_arrays(seed: int = 0, figures: int = 500) -> dict[str, np.ndarray]:
    """The built-in body as SMPL-format arrays (v_template, shapedirs, posedirs, J_regressor, weights,
    kintree_table, f), shape space from a PCA of ``figures`` random proportion draws."""
    rng = np.random.default_rng(seed)
    props = 1.0 + rng.normal(size=(figures, len(PROPORTIONS))) * np.array(PROPORTION_STD)
    meshes = build_vertices(np.clip(props, 0.6, 1.6))
    mean = meshes.mean(0)
    centred = (meshes - mean).reshape(figures, -1)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    std = s[:NUM_BETAS] / np.sqrt(figures - 1)  # beta ~ N(0, 1) as in SMPL's shape space
    shapedirs = (vt[:NUM_BETAS] * std[:, None]).T.reshape(-1, 3, NUM_BETAS)
    faces, weights, regressor = topology()
    n_v = len(mean)
    posedirs = np.zeros((n_v, 3, 9 * 23))
    prng = np.random.default_rng(seed + 1)
    for j in range(1, 24):  # small correctives on the blended vertices around each joint
        near = weights[:, j] * (1.0 - weights[:, j])
        posedirs[:, :, 9 * (j - 1): 9 * j] = 0.02 * near[:, None, None] * prng.normal(size=(1, 3, 9))
    kintree = np.stack([np.array(PARENTS), np.arange(24)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # SMPL files store the root's parent as the uint32 maximum
    return {"v_template": mean, "shapedirs": shapedirs, "posedirs": posedirs, "J_regressor": regressor,
            "weights": weights, "kintree_table": kintree, "f": faces}


def builtin_body(**kw) -> BodyModel:
    """The built-in procedural body as a :class:`BodyModel` (name 'built-in body')."""
    return BodyModel(body_arrays(), name="built-in body", head_top_vertex=head_top_vertex(), **kw)


# Natural joint ranges (radians) per axis (x, y, z) for the generated poses; elbows and knees bend one way
# only (SMPLify's bending prior: left elbow y < 0, right elbow y > 0, knees x > 0 are the natural signs).
_RANGES = {1: ((-1.2, 0.4), (-0.3, 0.3), (-0.1, 0.5)), 4: ((0.0, 2.0), (-0.05, 0.05), (-0.05, 0.05)),
           7: ((-0.3, 0.3), (-0.2, 0.2), (-0.2, 0.2)), 10: ((-0.2, 0.2), (-0.1, 0.1), (-0.1, 0.1)),
           3: ((-0.3, 0.4), (-0.25, 0.25), (-0.2, 0.2)), 6: ((-0.2, 0.2), (-0.2, 0.2), (-0.15, 0.15)),
           9: ((-0.15, 0.15), (-0.15, 0.15), (-0.1, 0.1)), 12: ((-0.3, 0.4), (-0.4, 0.4), (-0.2, 0.2)),
           13: ((-0.15, 0.15), (-0.15, 0.15), (-0.2, 0.15)), 15: ((-0.3, 0.3), (-0.3, 0.3), (-0.2, 0.2)),
           16: ((-0.5, 0.5), (-0.9, 0.7), (-1.3, 0.5)), 18: ((-0.1, 0.1), (-2.0, 0.0), (-0.1, 0.1)),
           20: ((-0.4, 0.4), (-0.3, 0.3), (-0.5, 0.5)), 22: ((-0.2, 0.2), (-0.1, 0.1), (-0.3, 0.3))}


def pose_ranges() -> np.ndarray:
    """(23, 3, 2) low/high of each body joint's axis-angle components (left limbs mirrored to the right)."""
    out = np.zeros((23, 3, 2))
    for j in range(1, 24):
        src = _MIRROR.get(j, j)
        r = np.array(_RANGES[src], dtype=float)
        if src != j:  # mirror x -> -x: the y and z components change sign
            r[1:] = -r[1:, ::-1]
        out[j - 1] = r
    return out


def sample_body_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 69) body poses drawn uniformly in the natural ranges (axis-angle components)."""
    r = pose_ranges()
    return rng.uniform(r[..., 0], r[..., 1], size=(n, 23, 3)).reshape(n, 69)
