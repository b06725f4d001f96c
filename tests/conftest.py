from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from capture.camera.detection import THREAD_NAME
from capture.camera.registry import reset_cameras
from tests import pg
from tests.net import free_port, wait_for_http, wait_until  # noqa: F401 - re-exported for the tests

ROOT = Path(__file__).resolve().parent.parent

# Bytecode caches (__pycache__/, git-ignored) are written even where PYTHONDONTWRITEBYTECODE is set: without them
# every pytest-xdist worker rewrites the asserts of every test module again (about 1.5 s a process) and every
# Python subprocess a test starts (manage.py, gunicorn, the stand-ins' imports of the project) compiles anew.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.hookimpl(wrapper=True)  # before every plain hook, pytest-xdist's reading of the groups among them
def pytest_collection_modifyitems(items: list[pytest.Item]):
    """Under `--dist loadgroup`, keep a module's tests on one worker when they share a module-scoped fixture
    of ours (a server, a browser, an installation), so it is set up once instead of once per worker."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info and any(_shared_by_module(defs[-1]) for defs in info.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    result = yield
    _mark_groups_in_node_ids(items)
    return result


def _shared_by_module(fixturedef) -> bool:
    return fixturedef.scope in ("module", "class") and fixturedef.func.__module__.startswith("tests.")


def _mark_groups_in_node_ids(items: list[pytest.Item]) -> None:
    """pytest-xdist 3.8 tells its scheduler a test's group by appending `@group` to the node id, but pytest 9.2
    keeps node ids in `_id`, so its write is lost and groups are ignored (pytest-dev/pytest-xdist#1386). Make
    the same write where pytest 9.2 reads it; a no-op outside `--dist loadgroup` and once xdist's own works."""
    if not items or not getattr(items[0].config.option, "loadgroup", False) or not hasattr(items[0], "_id"):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})  # fmt: skip
        suffix = "@" + "_".join(groups)
        if groups and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)


@pytest.fixture(scope="session", autouse=True)
def worker_environment(tmp_path_factory):
    """Defaults a subprocess would otherwise share with every other test run on the machine (the lock under
    /tmp, the stand-ins' state dir) point into this pytest(-xdist worker) process's own directory instead.
    Tests that need their own still set them (the `standins` fixture, GunicornServer)."""
    own = tmp_path_factory.mktemp("worker")
    patch = pytest.MonkeyPatch()
    patch.setenv("CAMERA_LOCK_PATH", str(own / "camera.lock"))
    patch.setenv("STANDIN_STATE_DIR", str(own / "standin-state"))
    yield own
    patch.undo()


@pytest.fixture(scope="session", autouse=True)
def postgres_cluster_lifetime():
    """This process's PostgreSQL cluster (tests/pg.py), if any test started one, ends with the session."""
    yield
    pg.stop_cluster()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """With CAMSITE_TEST_DB=postgres, Django's test database is made on this process's own cluster.

    The settings were read before any fixture runs, so the connection to the configured database is
    swapped for one to the cluster before pytest-django creates the test database."""
    if not pg.wanted():
        return
    if not pg.available():
        pytest.exit("CAMSITE_TEST_DB=postgres needs Debian's postgresql (apt install postgresql)", returncode=3)
    from django.conf import settings
    from django.db import connections

    connections["default"].close()
    settings.DATABASES["default"].clear()
    settings.DATABASES["default"].update(pg.cluster().settings())
    connections.configure_settings(settings.DATABASES)
    del connections["default"]


@pytest.fixture(autouse=True)
def isolated_paths(settings, tmp_path):
    """Each test gets its own upload directory and camera lock file."""
    settings.MEDIA_ROOT = tmp_path / "uploads"
    settings.MEDIA_ROOT.mkdir()
    settings.CAMERA_LOCK_PATH = tmp_path / "camera.lock"
    # The camera registry caches backends, detection and capabilities per process; start every test clean.
    reset_cameras()
    yield
    wait_for_detection()
    reset_cameras()


def wait_for_detection(timeout: float = 15) -> None:
    """Join background camera-detection threads, so none outlives its test."""
    for thread in threading.enumerate():
        if thread.name == THREAD_NAME:
            thread.join(timeout)


def _gunicorn_factory(make_dir):
    from tests.servers import GunicornServer

    started: list[GunicornServer] = []

    def start(*, workers: int = 2, threads: int = 2, env: dict[str, str] | None = None, before_start=None):
        server = GunicornServer(make_dir(), workers=workers, threads=threads, env=env)
        started.append(server)  # before start(): a server that fails half-way is stopped too
        if before_start:
            before_start(server)  # e.g. collect static files into server.tmp with server.env
        return server.start()

    return start, started


@pytest.fixture
def gunicorn(tmp_path):
    """Start a real gunicorn (tests/servers.py GunicornServer) with these settings; stopped after the test.

        server = gunicorn(workers=1, threads=4, env={"AUTH_TOKEN": "t"})

    Each call gets its own port, database, upload directory and lock under tmp_path."""
    count = iter(range(1_000))
    start, started = _gunicorn_factory(lambda: _fresh_dir(tmp_path / f"gunicorn{next(count)}"))
    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def module_gunicorn(tmp_path_factory):
    """Like `gunicorn`, for a server that all of a module's tests share (stopped after the module)."""
    start, started = _gunicorn_factory(lambda: tmp_path_factory.mktemp("gunicorn"))
    yield start
    for server in started:
        server.stop()


def _fresh_dir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.fixture
def api(db) -> APIClient:
    return APIClient()


@pytest.fixture
def post_json(api):
    def post(path: str, body=None, **extra):
        return api.post(
            path, data=json.dumps(body if body is not None else {}), content_type="application/json", **extra
        )

    return post


@pytest.fixture
def analyzer(settings):
    """A stub analyzer on 127.0.0.1 that ANALYZE_URL points at; tests choose its answers."""
    from tests.stub_analyzer import Analyzer

    server = Analyzer()
    settings.ANALYZE_URL = server.url
    yield server
    server.close()


@pytest.fixture
def standins(settings, tmp_path, monkeypatch) -> Path:
    """Put the stand-in rpicam apps first on PATH and select the real rpicam backend.

    Returns the stand-ins' state directory (sensor locks and runs.log)."""
    from tests.standins import install_standins

    bin_dir = install_standins(tmp_path / "bin")
    state = tmp_path / "standin-state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_STATE_DIR", str(state))
    monkeypatch.setenv("STANDIN_STARTUP_SEC", "0.05")
    settings.CAMERA_BACKEND = "rpicam"
    return state


def probe(path: Path) -> dict:
    """Container facts read with PyAV: format, codec, duration (s), frames, size."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.demux(stream) if _.size)
        duration = container.duration / 1_000_000 if container.duration else None
        return {
            "format": container.format.name,
            "codec": stream.codec_context.name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "duration": duration,
            "frames": frames,
        }


def processes_matching(text: str) -> list[str]:
    """Command lines of live processes that contain `text` (from /proc, so no ps needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z" and entry.name != str(os.getpid()):
            found.append(cmdline)
    return found


def capture_processes(standin_state: Path) -> list[str]:
    """Live stand-in capture processes (rpicam-still/-vid; detection's rpicam-hello is not a capture)."""
    bin_dir = standin_state.parent / "bin"
    return [cmd for app in ("still", "vid") for cmd in processes_matching(f"{bin_dir}/rpicam-{app}")]


def python_subprocess(code: str, *args: str, **kwargs) -> subprocess.Popen:
    """Run `code` in a fresh interpreter that can import the project."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "camsite.test_settings"}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=ROOT, **kwargs)


def pytest_report_header(config) -> str:
    return f"test database: {'postgres (a cluster per process, tests/pg.py)' if pg.wanted() else 'sqlite'}"
