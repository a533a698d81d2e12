"""Reports of one stored run: markdown (pandas tables), self-contained HTML (plotly), JSON.

Reports are pure functions of the store (plus the run's artifact folder for images and curves).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.errors import UsageError, unknown_name
from bench.report import html, json_report, markdown, model
from bench.store import Store

FORMATS = ("md", "html", "json")
SUFFIXES = {"md": ".md", "html": ".html", "json": ".json"}


def render_report(store: Store, run_id: str, fmt: str, artifact_root: Path | None = None,
                  plotly_src: str | None = None) -> str:
    """The report of run ``run_id`` (an id, a unique prefix, "latest" or a git commit) as text.

    ``artifact_root`` is the run's output folder, which artifact paths are relative to; without it
    (or when a file is gone) the HTML report says "missing" instead of inlining the artifact.
    ``plotly_src``: HTML only, a URL of plotly.js to load (a site's one copy) instead of inlining it.
    """
    if fmt not in FORMATS:
        raise unknown_name("report format", fmt, FORMATS)
    run = store.get_run(store.resolve(run_id))
    view = model.build(run, store.cases(run.run_id))
    if fmt == "md":
        return markdown.render(view)
    if fmt == "json":
        return json_report.render(view)
    return html.render(view, None if artifact_root is None else Path(artifact_root), plotly_src)


def write_report(store: Store, run_id: str, fmt: str, out_path: Path, artifact_root: Path | None = None,
                 plotly_src: str | None = None) -> Path:
    """Render and write a report atomically (creating parent folders); returns the path written."""
    text = render_report(store, run_id, fmt, artifact_root, plotly_src)
    out_path = Path(out_path)
    if out_path.is_dir():
        example = out_path / f"report{SUFFIXES[fmt]}"
        raise UsageError(f"--out {out_path} is a folder; give a file path such as {example}")
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp makes the file private; a report is meant to be shared like any written file.
        os.chmod(tmp, out_path.stat().st_mode & 0o777 if out_path.exists() else 0o644)
        os.replace(tmp, out_path)
    except OSError as exc:
        raise UsageError(f"cannot write report to {out_path}: {exc.strerror or exc}") from None
    return out_path


__all__ = ["FORMATS", "render_report", "write_report"]
