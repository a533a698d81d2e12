"""Time a standard dataset's resolve at a case start: first call (full check + checksum) vs second (cache hit).

Writes a synthetic 3D-R2N2 copy in the real layout (``ShapeNetRendering/<synset>/<model>/rendering/{00..23}.png``
+ ``rendering_metadata.txt``, ``ShapeNetVox32/<synset>/<model>/model.binvox``; ``--models`` models of 24 small
RGBA PNGs each, an empty 32^3 grid per model) into a temporary folder, then resolves the ``r2n2`` dataset as a
case start does (``bench.data.resolve.resolve``) ``--repeat`` times with an empty check cache (the checker's
import is not timed), and times a bare ``standard_checksum`` of the folder for reference. Before the cache,
every case start cost about the first call. The OS file cache is warm for every call (the files were just
written), so the first call's figure is a lower bound of a cold one. Prints one JSON object.

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/data_check_timing.py [--models 834] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.data import check_cache
from bench.data.resolve import resolve, standard_checksum
from bench.suite import DatasetUse

SYNSETS = ("02691156", "03001627", "04379243")
EMPTY_BINVOX = b"#binvox 1\ndim 32 32 32\ntranslate 0 0 0\nscale 1\ndata\n" + bytes((0, 255)) * 128 + bytes((0, 128))


def write_r2n2(root: Path, models: int) -> int:
    """``models`` models of 24 137x137 RGBA PNGs (R2N2's size), metadata and an empty binvox each; -> files."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((137, 137, 4), np.uint8)).save(buf, format="PNG")
    png = buf.getvalue()
    meta = "".join(f"{15 * v} 25 0 0.8 25\n" for v in range(24))
    for m in range(models):
        synset, model = SYNSETS[m % len(SYNSETS)], f"m{m:05d}"
        rdir = root / "ShapeNetRendering" / synset / model / "rendering"
        rdir.mkdir(parents=True)
        for v in range(24):
            (rdir / f"{v:02d}.png").write_bytes(png)
        (rdir / "rendering_metadata.txt").write_text(meta)
        vdir = root / "ShapeNetVox32" / synset / model
        vdir.mkdir(parents=True)
        (vdir / "model.binvox").write_bytes(EMPTY_BINVOX)
    return models * 26


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=834, help="models of 24 views (834: 20,016 PNGs)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        files = write_r2n2(data / "r2n2", args.models)
        os.environ[check_cache.CACHE_ENV] = str(Path(tmp) / "cache")
        os.environ.pop(check_cache.RECHECK_ENV, None)
        check_cache.code_identity("bench.data.formats.r2n2:check")  # imports the checker: not timed
        times, sums = [], set()
        for _ in range(args.repeat):
            t = time.perf_counter()
            sums.add(resolve(DatasetUse("r2n2"), None, data, 0).checksum)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare = standard_checksum(data / "r2n2")
        bare_s = time.perf_counter() - t
    print(json.dumps({"files": files, "pngs": args.models * 24, "first_s": round(times[0], 3),
                      "cached_s": [round(x, 3) for x in times[1:]], "standard_checksum_alone_s": round(bare_s, 3),
                      "same_checksum": sums == {bare}, "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
