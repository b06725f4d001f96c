"""The live preview end to end: a real gunicorn (deploy config), a real camera owner, the stand-in camera apps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ROOT
from tests.previews import LivePreview, Viewer, camera_app_pids, wait_for_owner

pytestmark = pytest.mark.slow


@pytest.fixture
def live(tmp_path):
    preview = LivePreview(tmp_path, PREVIEW_IDLE_SEC="2").start()
    yield preview
    preview.stop()


def viewers(live: LivePreview, count: int, path: str = "/api/cameras/0/stream.mjpg") -> list[Viewer]:
    started = [Viewer(live.server.port, path) for _ in range(count)]
    for viewer in started:
        viewer.start()
    return started


def close_all(started: list[Viewer]) -> None:
    for viewer in started:
        viewer.close()


def wait_until(predicate, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_ten_viewers_get_frames_from_one_camera_process(live):
    started = viewers(live, 10)
    try:
        assert all(viewer.wait_for_frames(5) for viewer in started), [len(v.frames) for v in started]
        assert all(viewer.status_line == b"HTTP/1.1 200 OK" for viewer in started)
        assert all(frame.startswith(b"\xff\xd8") for viewer in started for frame in viewer.frames)
        assert len(live.runs("start rpicam-vid")) == 1
        status = live.server.get("/api/camera/status").json()
        assert status["preview"]["state"] == "running"
        assert status["preview"]["viewers"] == 10
        assert status["busy"] is False  # the preview steps aside for captures: not busy
        metrics = live.server.get("/metrics").text  # asked of the owner at scrape time, like status
        assert 'camsite_preview_viewers{camera="0"} 10.0' in metrics
        assert 'camsite_preview_fps{camera="0"}' in metrics
    finally:
        close_all(started)


def test_a_capture_during_the_preview_answers_200_and_no_viewer_breaks(live):
    started = viewers(live, 3)
    try:
        assert all(viewer.wait_for_frames(3) for viewer in started)
        answer = live.server.post("/api/camera/capture", {"width": 640, "height": 480, "durationSec": 0.5})
        assert answer.status_code == 200, answer.text
        before = [len(viewer.frames) for viewer in started]
        # The preview comes back by itself, and every viewer is still on its first connection.
        assert all(viewer.wait_for_frames(count + 10) for viewer, count in zip(started, before, strict=True))
        assert [viewer.ended for viewer in started] == [None, None, None]
        runs = [line.split()[:2] for line in live.runs() if line.startswith(("start", "end"))]
        assert runs[:3] == [["start", "rpicam-vid"], ["end", "rpicam-vid"], ["start", "rpicam-still"]]
        assert ["start", "rpicam-vid"] in runs[3:]
        assert "stop=SIGINT" in live.runs("end rpicam-vid")[0]  # stopped cleanly, not by closing its pipe
    finally:
        close_all(started)


def test_the_preview_stops_after_the_idle_time_and_leaves_no_camera_process(live, tmp_path):
    [viewer] = viewers(live, 1)
    assert viewer.wait_for_frames(2)
    assert camera_app_pids(tmp_path / "bin")
    viewer.close()
    assert wait_until(lambda: not camera_app_pids(tmp_path / "bin"), timeout=10)
    assert live.server.get("/api/camera/status").json()["preview"] == {"state": "stopped", "viewers": 0, "fps": 0.0}


def test_snapshots_while_previewing_are_preview_frames_not_camera_runs(live):
    [viewer] = viewers(live, 1)
    try:
        assert viewer.wait_for_frames(3)
        runs_before = live.runs()
        for _ in range(5):
            answer = live.server.get("/api/cameras/0/snapshot.jpg")
            assert answer.status_code == 200
            assert answer.headers["Content-Type"] == "image/jpeg"
            assert answer.content.startswith(b"\xff\xd8") and answer.content.endswith(b"\xff\xd9")
        assert live.runs() == runs_before
        assert live.server.get("/api/captures/").json()["count"] == 0  # snapshots are not stored
    finally:
        viewer.close()


def test_a_snapshot_with_nothing_running_starts_the_camera_and_answers(live):
    answer = live.server.get("/snapshot.jpg")
    assert answer.status_code == 200
    assert answer.content.startswith(b"\xff\xd8")
    assert len(live.runs("start rpicam-vid")) == 1


def test_save_stores_the_snapshot_as_one_capture(live):
    answer = live.server.get("/api/cameras/0/snapshot.jpg?save=1")
    assert answer.status_code == 200
    rows = live.server.get("/api/captures/").json()["results"]
    assert len(rows) == 1
    assert rows[0]["source"] == "snapshot"
    assert live.server.get(rows[0]["url"]).content == answer.content


@pytest.mark.parametrize("path", ["/stream.mjpg", "/?action=stream"])
def test_the_mjpg_streamer_stream_urls_serve_the_default_camera(live, path):
    [viewer] = viewers(live, 1, path)
    try:
        assert viewer.wait_for_frames(2)
    finally:
        viewer.close()


def test_the_mjpg_streamer_snapshot_url_and_home_redirect(live):
    assert live.server.get("/?action=snapshot").content.startswith(b"\xff\xd8")
    home = live.server.get("/", allow_redirects=False)
    assert home.status_code == 302 and home.headers["Location"] == "/admin/"


def test_a_killed_camera_process_is_restarted_and_viewers_keep_going(live, tmp_path):
    [viewer] = viewers(live, 1)
    try:
        assert viewer.wait_for_frames(3)
        [pid] = camera_app_pids(tmp_path / "bin")
        os.kill(pid, signal.SIGKILL)
        count = len(viewer.frames)
        assert viewer.wait_for_frames(count + 10)
        assert viewer.ended is None
        assert live.owner.status()["restarts"] >= 1
        assert len(live.runs("start rpicam-vid")) == 2
    finally:
        viewer.close()


def test_a_stalled_preview_is_restarted_after_three_seconds(tmp_path):
    live = LivePreview(tmp_path, STANDIN_STALL_AFTER="5").start()
    [viewer] = viewers(live, 1)
    try:
        assert wait_until(lambda: len(live.runs("start rpicam-vid")) >= 2, timeout=15)
        assert viewer.ended is None  # held the last frame meanwhile
        assert "no frame for 3 s" in live.owner.log() or live.owner.status()["lastError"] == "no frame for 3 s"
    finally:
        viewer.close()
        live.stop()


def test_kill_9_of_the_owner_ends_streams_leaves_no_camera_and_captures_still_work(live, tmp_path):
    [viewer] = viewers(live, 1)
    assert viewer.wait_for_frames(2)
    live.owner.proc.kill()
    live.owner.proc.wait()
    assert wait_until(lambda: viewer.ended is not None, timeout=10)
    assert viewer.ended == "eof"  # a clean end the client can reconnect from
    assert wait_until(lambda: not camera_app_pids(tmp_path / "bin"), timeout=5)
    answer = live.server.post("/api/camera/capture", {"width": 320, "height": 240, "durationSec": 0.2})
    assert answer.status_code == 200, answer.text
    assert live.server.get("/api/cameras/0/stream.mjpg").status_code == 503
    viewer.close()


def test_a_viewer_that_stops_reading_does_not_slow_the_others(live):
    stuck = Viewer(live.server.port, read=False)
    stuck.start()
    [reader] = viewers(live, 1)
    try:
        assert reader.wait_for_frames(3)
        time.sleep(3)  # long enough for the stuck viewer's socket buffers to fill
        assert reader.wait_for_frames(len(reader.frames) + 15)
        assert live.owner.status()["viewers"] == 2
    finally:
        reader.close()
        stuck.close()


def test_a_capture_from_the_command_line_preempts_the_preview(live):
    [viewer] = viewers(live, 1)
    try:
        assert viewer.wait_for_frames(3)
        result = subprocess.run(
            [sys.executable, "manage.py", "capture", "--width", "320", "--height", "240", "--duration", "0.3"],
            cwd=ROOT,
            env=live.server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        count = len(viewer.frames)
        assert viewer.wait_for_frames(count + 5)
        assert viewer.ended is None
    finally:
        viewer.close()


def test_streams_hold_no_web_thread(live):
    # 4 threads: were each viewer holding one, the fifth request would wait for ever.
    started = viewers(live, 8)
    try:
        assert all(viewer.wait_for_frames(2) for viewer in started)
        assert live.server.get("/api/camera/status", timeout=5).status_code == 200
    finally:
        close_all(started)


def test_serve_restarts_a_killed_owner_within_two_seconds(tmp_path):
    from tests.net import free_port
    from tests.previews import Owner, standin_env

    port = free_port()
    env = {
        **os.environ,
        **standin_env(tmp_path),
        "DJANGO_SETTINGS_MODULE": "camsite.settings",
        "DJANGO_SECRET_KEY": "test-secret",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    with (tmp_path / "serve.log").open("wb") as out:
        serve = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        owner = Owner(env, tmp_path / "unused.log")
        first = wait_for_owner(owner.socket, timeout=60)
        os.kill(first["pid"], signal.SIGKILL)
        second = wait_for_owner(owner.socket, timeout=10, pid=first["pid"])  # bench/run.py times this
        assert second["pid"] != first["pid"]
        assert requests.get(f"http://127.0.0.1:{port}/snapshot.jpg", timeout=30).status_code == 200
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
    assert not camera_app_pids(tmp_path / "bin")


def test_behind_the_nginx_site_streams_go_through_nginx_to_the_owner(live, tmp_path):
    import shutil

    from tests.test_deploy import DEPLOY, SBIN_PATH, write_nginx_conf

    nginx = shutil.which("nginx", path=SBIN_PATH)
    if nginx is None:
        pytest.skip("nginx is not installed (CI installs it: .ci/run)")
    from tests.net import free_port, wait_for_http

    port = free_port()
    site = (DEPLOY / "nginx" / "camsite.conf").read_text()
    for old, new in [
        ("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;"),
        ("listen [::]:80 default_server;\n", ""),
        ("server 127.0.0.1:3000;", f"server 127.0.0.1:{live.server.port};"),
        ("/run/camsite-preview/camera.lock.owner.sock", f"{live.owner.socket}"),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site)
    conf = write_nginx_conf(tmp_path, include=tmp_path / "site.conf")
    argv = [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log"), "-g", "daemon off;"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started: list[Viewer] = []
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/camera/status", timeout=20)
        started = [Viewer(port, "/stream.mjpg") for _ in range(3)]
        for viewer in started:
            viewer.start()
        assert all(viewer.wait_for_frames(3) for viewer in started), (tmp_path / "error.log").read_text()
        # The app answered with X-Accel-Redirect (no web thread held): its log has the request, nginx the stream.
        assert "GET /stream.mjpg 200" in live.server.log()
        assert requests.get(f"http://127.0.0.1:{port}/internal-preview/0/stream.mjpg", timeout=10).status_code == 404
    finally:
        close_all(started)
        proc.terminate()
        proc.wait(timeout=10)


def test_a_camera_that_never_starts_is_failed_in_status_and_given_up_once_its_viewers_leave(tmp_path):
    live = LivePreview(tmp_path, STANDIN_FAIL="camera frontend has timed out!", PREVIEW_IDLE_SEC="1").start()
    try:
        [viewer] = viewers(live, 1)
        assert wait_until(lambda: live.owner.status()["state"] == "failed", timeout=30)
        assert viewer.frames == [] and viewer.ended is None  # still connected, waiting for a picture
        assert live.server.get("/snapshot.jpg", timeout=30).status_code == 503
        viewer.close()
        assert wait_until(lambda: live.owner.status()["viewers"] == 0, timeout=10)
        assert wait_until(lambda: live.owner.status()["state"] == "stopped", timeout=15)
    finally:
        live.stop()
