#!/usr/bin/env python3
"""Render a run's HTML report and photograph it in headless Chromium (the by-hand browser check).

    python scripts/screenshot_report.py --out /tmp/report.png                 # the built-in sample run
    python scripts/screenshot_report.py --db reports/bench.db --run latest \\
        --artifacts reports/<run-id> --out /tmp/report.png --height 4000

Needs Chromium (``apt-get install -y chromium``). It prints the HTML and PNG paths, and how many
plotly charts the browser drew; open the PNG to check the page looks right. The same steps run in
``tests/report/test_browser.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_report  # noqa: E402
from bench.report.browser import dump_dom, screenshot  # noqa: E402
from bench.store import Store  # noqa: E402
from bench.store.sample import sample_cases, sample_run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="results database (path or URL); default: a temporary store with the sample run")
    ap.add_argument("--run", default="latest", help="run id, prefix, 'latest' or git commit (default: latest)")
    ap.add_argument("--artifacts", type=Path, help="the run's output folder (artifact paths are relative to it)")
    ap.add_argument("--out", type=Path, default=Path("report.png"), help="PNG to write (default: report.png)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=2000)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench3d-shot-"))
    if args.db is None:
        store, artifacts = Store.open(work / "sample.db"), work / "out"
        run = sample_run()
        store.create_run(run)
        for case in sample_cases(artifacts):
            store.add_case(run.run_id, case)
    else:
        store, artifacts = Store.open(args.db, create=False), args.artifacts
    with store:
        html = write_report(store, args.run, "html", args.out.with_suffix(".html"), artifact_root=artifacts)
    png = screenshot(html, args.out, width=args.width, height=args.height)
    charts = dump_dom(html).count('class="plot-container plotly"')
    print(f"html: {html}\npng:  {png}\ncharts drawn by plotly: {charts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
