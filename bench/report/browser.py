"""Headless Chromium checks of an HTML report: a screenshot and the DOM after scripts ran.

Used by the browser test and ``scripts/screenshot_report.py``. Chromium comes from the Debian
package (``apt-get install chromium``); every network feature is switched off and a dead proxy is
set, so a report that needed the network would show up broken.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _command(exe: str, profile: Path, width: int, height: int) -> list[str]:
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--proxy-server=http://127.0.0.1:9",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", "--virtual-time-budget=10000"]


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"chromium exited with code {proc.returncode}: {tail}")
    return proc


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 2000, timeout: float = 120,
               exe: str | None = None) -> Path:
    """Render ``html`` in headless Chromium and save a PNG of the first ``height`` pixels."""
    exe = exe or find_chromium()
    if exe is None:
        raise RuntimeError("chromium not found; install it with `apt-get install -y chromium`")
    with tempfile.TemporaryDirectory(prefix="bench3d-chromium-") as profile:
        _run([*_command(exe, Path(profile), width, height), f"--screenshot={Path(png).absolute()}",
              Path(html).absolute().as_uri()], timeout)
    return Path(png)


def dump_dom(html: Path, *, timeout: float = 120, exe: str | None = None) -> str:
    """The page's DOM after its scripts ran (plotly charts drawn)."""
    exe = exe or find_chromium()
    if exe is None:
        raise RuntimeError("chromium not found; install it with `apt-get install -y chromium`")
    with tempfile.TemporaryDirectory(prefix="bench3d-chromium-") as profile:
        return _run([*_command(exe, Path(profile), 1280, 2000), "--dump-dom", Path(html).absolute().as_uri()],
                    timeout).stdout
