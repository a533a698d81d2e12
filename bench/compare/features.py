"""Bootstrap intervals beside FID rows of a run comparison, from the per-image features both cases kept.

When both cases of a pair registered a kept-features artifact (bench.metrics.fid_bootstrap.FEATURES_ARTIFACT)
holding a compared metric, the metric's row gets the percentile interval of NEW - BASE over images in its reason;
the mark itself is left as the metric comparison made it. Files are only read (and torch only imported) then.
Only image counts below the feature dimension are bootstrapped here (each round is then an n x n problem,
bench.metrics.frechet); for more images the row says so and the library function does it off-line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.results import ArtifactRecord, CaseResult, RunRecord

ROUNDS = 500  # bootstrap rounds per metric row; seeded, so a comparison is reproducible


def _kept_file(run: RunRecord, case: CaseResult, name: str) -> tuple[Path | None, str]:
    """The path of ``case``'s artifact ``name`` under the run's artifact folder, or (None, why not)."""
    rec: ArtifactRecord | None = next((a for a in case.artifacts if a.name == name), None)
    if rec is None:
        return None, ""
    if not run.artifact_dir:
        return None, f"run {run.run_id}: no artifact folder recorded"
    root = Path(run.artifact_dir).resolve()
    path = (root / rec.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None, f"run {run.run_id}: {rec.path} missing under {root}"
    if hashlib.sha256(path.read_bytes()).hexdigest() != rec.sha256:
        return None, f"run {run.run_id}: {rec.path} changed since the run (sha256 differs)"
    return path, ""


def annotate(rows: list, base_run: RunRecord, base: CaseResult, new_run: RunRecord, new: CaseResult,
             rounds: int = ROUNDS) -> None:
    """Append the bootstrap interval (or why there is none) to each compared metric row with kept features."""
    compared = [r for r in rows if r.kind == "metric" and r.verdict is not None]
    if not compared or not any(a.kind == "data" and a.path.endswith(".npz") for a in new.artifacts):
        return
    import torch

    from bench.metrics.fid_bootstrap import FEATURES_ARTIFACT, bootstrap_fid_difference, load_features
    from bench.metrics.fingerprint import IncomparableError
    from bench.metrics.frechet import GaussianStats

    (pb, why_b), (pn, why_n) = _kept_file(base_run, base, FEATURES_ARTIFACT), _kept_file(new_run, new,
                                                                                          FEATURES_ARTIFACT)
    for row in compared:
        try:
            if pb is None or pn is None:
                if why_b or why_n:
                    raise ValueError("; ".join(filter(None, (why_b, why_n))))
                return  # one case kept no features: nothing to add
            kb, kn = load_features(pb, row.name), load_features(pn, row.name)
            if kn.reference is None or len(kn.reference) < 2:
                raise ValueError("the reference's per-image features were not kept (statistics from mu/sigma)")
            n, dim = max(len(kb.features), len(kn.features)), kn.features.shape[1]
            if n >= dim:  # each round would need a d x d eigendecomposition: minutes to hours per row
                raise ValueError(f"{n} images >= {dim} feature dimensions, too slow for compare; call "
                                 "bench.metrics.fid_bootstrap.bootstrap_fid_difference on the two files")
            ref = GaussianStats.from_features(torch.from_numpy(kn.reference))
            text = bootstrap_fid_difference(kb, kn, ref, rounds=rounds).describe()
        except IncomparableError as exc:
            text = f"bootstrap incomparable: {exc}"
        except ValueError as exc:
            if "no kept features for" in str(exc):
                continue  # this metric has no kept features (e.g. KID)
            text = f"bootstrap unavailable: {exc}"
        row.verdict.note = "; ".join(filter(None, [row.verdict.note, text]))
        row.reason = row.verdict.note
