"""The live preview's figures (part of `make bench`; `python bench/preview.py` alone prints only these).

Starts `manage.py serve` (gunicorn with deploy/gunicorn.conf.py, the worker, and the camera owner) on the
stand-in camera apps, whose streamed frames carry the time they left the camera process (STANDIN_FRAME_STAMP),
and measures:

- server CPU (gunicorn + owner, the camera process apart) for 1, 10 and 20 viewers, and for one client polling
  /snapshot.jpg 15 times a second for 10 s (Mainsail's mjpegstreamer-adaptive);
- frame latency, from the frame leaving the camera process to a viewer receiving it (p50, p99);
- snapshot latency while previewing, and cold (no preview running);
- the preview's gap (longest time without a new frame) around a 1 s capture;
- GET /api/camera/status latency idle and with 20 viewers;
- how long a new owner takes to answer after a `kill -9` of the old one;
- warm stills (CAMERA_WARM_STILLS, a server of their own): request-to-stored-file of a default jpg capture, warm
  (one trigger) against cold (the same size with `brightness: 0`, which the warm process doesn't match).

Bounded in count and time; numbers are noisy on shared machines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import descendants, stop_server  # noqa: E402
from bench.run import KeepAliveClient  # noqa: E402
from capture.lib import owner_client  # noqa: E402
from tests.net import free_port, wait_for_http  # noqa: E402
from tests.standins import install_standins  # noqa: E402
from tests.viewers import Viewer, camera_app_pids, paced, wait_for_owner  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


def stamp_of(frame: bytes) -> float | None:
    at = frame.find(b"\xff\xfe", 2, 64)
    if at < 0:
        return None
    length = int.from_bytes(frame[at + 2 : at + 4], "big")
    text = frame[at + 4 : at + 2 + length]
    return float(text[2:]) if text.startswith(b"t=") else None


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


class PreviewBench:
    def __init__(self, tmp: Path, **extra_env: str) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        state = tmp / "standin-state"
        state.mkdir()
        self.bin_dir = install_standins(tmp / "bin")
        self.env = {
            **os.environ,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            "STANDIN_STATE_DIR": str(state),
            "STANDIN_FRAME_STAMP": "1",
            "DJANGO_SETTINGS_MODULE": "camsite.settings",
            "DJANGO_SECRET_KEY": "bench-secret",
            "DATABASE_PATH": str(tmp / "db.sqlite3"),
            "UPLOAD_DIR": str(tmp / "uploads"),
            "CAMERA_LOCK_PATH": str(tmp / "c.lock"),
            "CAMERA_BACKEND": "rpicam",
            "PREVIEW_IDLE_SEC": "1",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "LOG_LEVEL": "warning",
            "HUEY_SQLITE_PATH": str(tmp / "huey.sqlite3"),
            **extra_env,
        }
        self.socket = owner_client.socket_path(tmp / "c.lock")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True)
        self.log = (self.tmp / "server.log").open("wb")
        self.proc = subprocess.Popen([*manage, "serve"], cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        wait_for_http(f"{self.url}/api/camera/status", timeout=60)
        wait_for_owner(self.socket)

    def stop(self) -> None:
        stop_server(self.proc)

    def viewers(self, count: int) -> list[Viewer]:
        started = [Viewer(self.port, "/stream.mjpg") for _ in range(count)]
        for viewer in started:
            viewer.start()
        for viewer in started:
            viewer.wait_for_frames(2)
        return started

    def server_and_camera_cpu(self, count: int, seconds: float = 5.0) -> dict:
        started = self.viewers(count)
        try:
            time.sleep(1)
            camera = [p for pid in camera_app_pids(self.bin_dir) for p in descendants(pid)]
            server = [pid for pid in descendants(self.proc.pid) if pid not in camera]
            server_before, camera_before = cpu_seconds(server), cpu_seconds(camera)
            time.sleep(seconds)
            return {
                "server_cpu_pct": round((cpu_seconds(server) - server_before) / seconds * 100, 1),
                "camera_cpu_pct": round((cpu_seconds(camera) - camera_before) / seconds * 100, 1),
            }
        finally:
            for viewer in started:
                viewer.close()

    def adaptive_snapshots(self, rate: float = 15, seconds: float = 10) -> dict:
        """Mainsail/Fluidd's mjpegstreamer-adaptive: one client polling /snapshot.jpg `rate` times a second."""
        client = KeepAliveClient(self.url)
        client.request("GET", "/snapshot.jpg")  # the first one starts the preview; measure it running
        time.sleep(1)
        camera = [p for pid in camera_app_pids(self.bin_dir) for p in descendants(pid)]
        server = [pid for pid in descendants(self.proc.pid) if pid not in camera]
        server_before = cpu_seconds(server)
        started, bad = time.monotonic(), 0
        for _ in paced(rate, seconds):
            status, body = client.request("GET", "/snapshot.jpg")
            bad += status != 200 or not (body.startswith(b"\xff\xd8") and body.endswith(b"\xff\xd9"))
        elapsed = time.monotonic() - started
        return {
            "requests": int(rate * seconds),
            "not_a_jpeg": bad,
            "server_cpu_pct": round((cpu_seconds(server) - server_before) / elapsed * 100, 1),
        }

    def frame_latency(self, seconds: float = 5.0) -> dict:
        [viewer] = self.viewers(1)
        try:
            time.sleep(seconds)
        finally:
            viewer.close()
        # Receipt times are monotonic, stamps wall-clock: pair them through the offset now.
        offset = time.time() - time.monotonic()
        latencies = [
            (received + offset - stamp) * 1000
            for frame, received in zip(viewer.frames, viewer.frame_times, strict=True)
            if (stamp := stamp_of(frame)) is not None
        ]
        return {"p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99), "n": len(latencies)}

    def snapshot_latency(self) -> dict:
        client = KeepAliveClient(self.url)
        [viewer] = self.viewers(1)
        try:
            warm = [self._timed(lambda: client.request("GET", "/snapshot.jpg")) for _ in range(50)]
        finally:
            viewer.close()
        cold = []
        for _ in range(5):
            self._wait_preview_stopped()
            cold.append(self._timed(lambda: KeepAliveClient(self.url).request("GET", "/snapshot.jpg")))
        return {"previewing_p50_ms": pct(warm, 0.5), "cold_p50_ms": pct(cold, 0.5), "cold_n": len(cold)}

    def gap_around_capture(self) -> dict:
        [viewer] = self.viewers(1)
        try:
            time.sleep(1)
            started = time.monotonic()
            status, body = KeepAliveClient(self.url).request(
                "POST", "/api/camera/capture", {"width": 640, "height": 480, "durationSec": 1}
            )
            capture_sec = time.monotonic() - started
            assert status == 200, body
            time.sleep(3)
        finally:
            viewer.close()
        new_frames, seen = [], set()
        for frame, received in zip(viewer.frames, viewer.frame_times, strict=True):
            stamp = stamp_of(frame)
            if stamp not in seen:
                seen.add(stamp)
                new_frames.append(received)
        gap = max(b - a for a, b in zip(new_frames, new_frames[1:], strict=False))
        return {"capture_sec": round(capture_sec, 2), "longest_gap_sec": round(gap, 2), "viewer_ended": viewer.ended}

    def status_latency(self, viewers: int) -> dict:
        started = self.viewers(viewers) if viewers else []
        try:
            client = KeepAliveClient(self.url)
            samples = [self._timed(lambda: client.request("GET", "/api/camera/status")) for _ in range(200)]
        finally:
            for viewer in started:
                viewer.close()
        return {"p50_ms": pct(samples, 0.5), "p90_ms": pct(samples, 0.9)}

    def owner_restart(self) -> dict:
        first = wait_for_owner(self.socket)
        os.kill(first["pid"], signal.SIGKILL)
        killed = time.monotonic()
        wait_for_owner(self.socket, timeout=10, pid=first["pid"])
        return {"owner_back_after_kill_9_sec": round(time.monotonic() - killed, 2)}

    def warm_vs_cold(self, count: int = 8) -> dict:
        client = KeepAliveClient(self.url)

        def capture(body: dict) -> float:
            deadline = time.monotonic() + 20
            while owner_client.status(self.socket).get("warm") != "ready" and time.monotonic() < deadline:
                time.sleep(0.05)
            started = time.perf_counter()
            status, answer = client.request("POST", "/api/camera/capture", body)
            assert status == 200, answer
            return (time.perf_counter() - started) * 1000

        warm = [capture({}) for _ in range(count)]
        cold = [capture({"brightness": 0.0}) for _ in range(count)]
        return {"warm_p50_ms": pct(warm, 0.5), "cold_p50_ms": pct(cold, 0.5), "n": count}

    def _wait_preview_stopped(self) -> None:
        deadline = time.monotonic() + 15
        while owner_client.status(self.socket)["state"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.1)

    @staticmethod
    def _timed(fn) -> float:
        started = time.perf_counter()
        fn()
        return (time.perf_counter() - started) * 1000


def preview_figures() -> dict:
    with tempfile.TemporaryDirectory(prefix="pv-", dir="/tmp") as tmp:
        bench = PreviewBench(Path(tmp))
        bench.start()
        try:
            figures: dict = {"cpu_by_viewers": {n: bench.server_and_camera_cpu(n) for n in (1, 10, 20)}}
            one, twenty = figures["cpu_by_viewers"][1], figures["cpu_by_viewers"][20]
            figures["server_cpu_20_vs_1"] = round(twenty["server_cpu_pct"] / max(one["server_cpu_pct"], 0.1), 2)
            bench._wait_preview_stopped()
            adaptive = bench.adaptive_snapshots()
            figures["mainsail_adaptive_15_per_sec"] = adaptive
            figures["mainsail_adaptive_server_cpu_pct"] = adaptive["server_cpu_pct"]
            figures["frame_latency"] = bench.frame_latency()
            figures["snapshot"] = bench.snapshot_latency()
            figures["gap_around_1s_capture"] = bench.gap_around_capture()
            bench._wait_preview_stopped()
            idle = bench.status_latency(0)
            busy = bench.status_latency(20)
            figures["status"] = {
                "idle": idle,
                "20_viewers": busy,
                "ratio_p50": round(busy["p50_ms"] / idle["p50_ms"], 2),
            }
            figures.update(bench.owner_restart())
        finally:
            bench.stop()
    with tempfile.TemporaryDirectory(prefix="pv-", dir="/tmp") as tmp:
        bench = PreviewBench(Path(tmp), CAMERA_WARM_STILLS="true")
        bench.start()
        try:
            figures["still_request_to_file"] = bench.warm_vs_cold()
        finally:
            bench.stop()
    return figures


if __name__ == "__main__":
    print(json.dumps(preview_figures(), indent=2))
