"""Units of metrics, and when two stored units mean the same thing.

A unit is part of what a stored number means: ``bench.compare`` marks two results with different units
incomparable. Some units were added later as labels on numbers that did not change (issue 21): a Chamfer
distance stored with ``""`` before and ``"units²"`` now is the same squared distance in the same scene
units. :func:`same_unit` treats such a pair as equal, so old stored runs stay comparable with new ones,
while a change of meaning (a fraction ``""`` against a percentage ``"%"``, metres against millimetres) stays
incomparable.
"""

from __future__ import annotations

# Distances in the coordinates of the scene or mesh (after the metric's own rescaling protocol, if any).
LENGTH = "units"
# Squared distances in the same coordinates (Chamfer-L2).
SQUARED_LENGTH = "units²"
# A training loss (a weighted sum of terms of different kinds) or its gradient norm: no physical unit,
# "arbitrary units".
ARBITRARY = "a.u."
# A count of optimisation iterations.
ITERATIONS = "iterations"

# Units that only label numbers which were stored with "" before they were introduced (issue 21); the
# numbers themselves did not change, so "" and one of these compare as equal.
LABEL_ONLY: frozenset[str] = frozenset({LENGTH, SQUARED_LENGTH, ARBITRARY, ITERATIONS})


def same_unit(a: str | None, b: str | None) -> bool:
    """Whether two stored units mean the same: equal, or one empty and the other a label-only unit."""
    a, b = (a or "").strip(), (b or "").strip()
    if a == b:
        return True
    return (not a and b in LABEL_ONLY) or (not b and a in LABEL_ONLY)


def newer_unit(units: list[str | None]) -> str:
    """The unit to show for a series stored over time: the latest non-empty one (oldest first), else ""."""
    for u in reversed(units):
        if u:
            return u
    return ""
