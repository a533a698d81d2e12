"""Shared fixtures: an isolated output folder and environment for CLI and runner tests, and the shared
folder (``../shared`` beside the repository, or $BENCH3D_SHARED) for tests that read files from it."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The shared folder lies beside the clone (CI: X/../shared for a clone in X); $BENCH3D_SHARED overrides.
SHARED = Path(os.environ.get("BENCH3D_SHARED") or ROOT.parent / "shared").resolve()


def pytest_configure(config):
    """Give SIGINT its default action back where pytest was started with it ignored (``pytest ... &`` from a
    non-interactive shell ignores SIGINT, and every child inherits that): the tests that Ctrl-C a run would
    otherwise wait for a runner that never sees the signal. A handled SIGINT is reset to the default at exec."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def in_ci() -> bool:
    """True where the environment says CI (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_file(relative: str) -> Path:
    """The file ``relative`` of the shared folder. Missing: a test failure in CI (which always has the
    shared folder), a skip naming the path elsewhere."""
    path = SHARED / relative
    if path.is_file():
        return path
    where = "$BENCH3D_SHARED" if os.environ.get("BENCH3D_SHARED") else "../shared beside the repository"
    message = f"shared file {relative} not found at {path} (the shared folder is {where})"
    if in_ci():
        pytest.fail(f"{message}; CI (CI={os.environ['CI']}) must provide the shared folder, so this fails "
                    "instead of skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _isolated_check_cache(tmp_path_factory):
    """Standard datasets' check records (bench.data.check_cache) go to a temporary folder during the tests,
    not to ~/.cache/bench3d; subprocesses inherit it."""
    old = os.environ.get("BENCH3D_CACHE")
    os.environ["BENCH3D_CACHE"] = str(tmp_path_factory.mktemp("bench3d-cache"))
    yield
    if old is None:
        os.environ.pop("BENCH3D_CACHE", None)
    else:
        os.environ["BENCH3D_CACHE"] = old


@pytest.fixture
def bench_env(tmp_path, monkeypatch):
    """Environment for subprocess-based tests: the project and fixtures importable, no stray DB."""
    path = os.pathsep.join([str(ROOT), str(FIXTURES), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.delenv("BENCH3D_DB", raising=False)
    monkeypatch.setenv("BENCH3D_MACHINE", "test-machine")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def bench3d_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli", *args]


@pytest.fixture
def orphan_env(bench_env, monkeypatch):
    """The faulty and spawn suites, and a temp folder of the test's own (TMPDIR) to look for leftovers in."""
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite;spawn=tests.test_orphans:SpawnSuite")
    tmp = bench_env / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    return bench_env


REQUIRE_PYTORCH3D_ENV = "BENCH3D_REQUIRE_PYTORCH3D"


def pytorch3d_required() -> bool:
    """True where ``$BENCH3D_REQUIRE_PYTORCH3D`` is set (``.ci/run`` sets it: CI installs the reference wheel)."""
    return os.environ.get(REQUIRE_PYTORCH3D_ENV, "").strip().lower() not in ("", "0", "false", "no")


def require_pytorch3d() -> None:
    """Skip (or, with ``$BENCH3D_REQUIRE_PYTORCH3D`` set, fail) unless the real PyTorch3D imports."""
    from bench import backends

    if backends.pytorch3d_available():
        return
    message = ("pytorch3d is not installed (not on PyPI): install the reference wheel, "
               "pip install ../shared/wheels/pytorch3d-*.whl (python3 quickstart.py test does it when present)")
    if pytorch3d_required():
        pytest.fail(f"{message}; {REQUIRE_PYTORCH3D_ENV} is set, so this fails instead of skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def no_pytorch3d(monkeypatch):
    """The real PyTorch3D made absent in this process (its import raises ImportError), backends re-resolved."""
    from bench import backends

    for name in [m for m in sys.modules if m == "pytorch3d" or m.startswith("pytorch3d.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pytorch3d", None)
    monkeypatch.setattr(backends, "_cache", {})
    return backends


# --- a throwaway PostgreSQL server ------------------------------------------------------------------------------
PG_BIN_ENV = "BENCH3D_PG_BIN"  # folder of initdb/pg_ctl/postgres; default: the newest /usr/lib/postgresql/*/bin
PG_USER, PG_PASSWORD = "bench", "bench-test-pw"


def _pg_bin() -> Path | None:
    given = os.environ.get(PG_BIN_ENV)
    if given:
        return Path(given)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


class PgServer:
    """A PostgreSQL cluster in a temp folder, run by an unprivileged user (postgres refuses root), listening only on
    127.0.0.1 at a free port, with password (scram) authentication for TCP. ``url(db)`` for a database in it."""

    def __init__(self, root: Path, bin_dir: Path):
        import socket
        import subprocess

        self.root, self.bin = root, bin_dir
        self.data = root / "data"
        root.mkdir(parents=True, exist_ok=True)
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # root (CI, this machine): run as `nobody`, who must reach the folder
            self._as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
            for p in [root, *root.parents]:
                if p == Path("/"):
                    break
                p.chmod(p.stat().st_mode | 0o011)  # traverse only (no listing) for others on the way down
            os.chown(root, 65534, 65534)
        pwfile = root / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, 65534, 65534)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        run = dict(check=True, capture_output=True, text=True, cwd=root)
        subprocess.run([*self._as_user, str(bin_dir / "initdb"), "-D", str(self.data), "-U", PG_USER,
                        f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"], **run)
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off " \
               f"-c max_connections=60"
        subprocess.run([*self._as_user, str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(root / "log"),
                        "-o", opts, "-w", "-t", "60", "start"], **run)
        self._n = 0

    def url(self, database: str = "postgres", password: str = PG_PASSWORD) -> str:
        return f"postgresql://{PG_USER}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; its URL."""
        import sqlalchemy as sa

        self._n += 1
        name = f"{prefix}_{os.getpid()}_{self._n}"
        eng = sa.create_engine(self.url().replace("postgresql://", "postgresql+psycopg://"),
                               isolation_level="AUTOCOMMIT")
        try:
            with eng.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            eng.dispose()
        return self.url(name)

    def stop(self) -> None:
        import subprocess

        subprocess.run([*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, cwd=self.root)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One PostgreSQL server for the test session (skipped, saying why, where its binaries or psycopg are absent;
    a failure in CI, which has both)."""
    bin_dir = _pg_bin()
    reason = None
    if bin_dir is None or not (bin_dir / "initdb").exists():
        reason = f"PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin or ${PG_BIN_ENV})"
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            reason = "psycopg is not installed (pip install -e '.[postgres]')"
    if reason:
        pytest.skip(reason)
    server = PgServer(tmp_path_factory.mktemp("pg"), bin_dir)
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a fresh, empty PostgreSQL database."""
    return pg_server.new_database()
