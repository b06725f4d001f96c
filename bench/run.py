"""`make bench`: the figures that matter on a Pi, printed as one JSON object.

Starts the server the way `make run` does (`manage.py serve`: gunicorn with deploy/gunicorn.conf.py plus the
analysis worker) with the stand-in camera apps from tests/standins on PATH, all on 127.0.0.1, and measures:

- GET /api/camera/status latency (one client, with keep-alive and with a new connection per request as curl
  makes them, and after a 1.7 s pause, as a capture's camera leaves the server) and throughput (8 clients);
- capture overhead: POST /api/camera/capture (jpg 640x480, durationSec 1) minus the same rpicam-still
  command run directly, paired run by run; and the server's own part, the request's time minus the camera
  command's as the server measured it (cameraMs), which is the figure the target is for;
- what this machine adds to any request after a pause: a bare socket server's exchange back to back and after
  1.7 s idle (context for the capture overhead, which always follows the camera's run);
- 409 latency while another capture holds the camera, with keep-alive and with a new connection;
- /uploads throughput for a 50 MB mp4, full and Range GETs, against nginx serving the same file;
- memory (PSS) of the whole server (every process of it): with the job worker up, idle (the worker exited for
  lack of work, per process) and after the load;
- captures per minute back to back, against the camera command's own rate;
- peak memory (PSS) of a worker and its ffmpeg making a timelapse of 1,440 generated 1080p frames
  (bench/timelapse.py; `bench/run.py timelapse` runs only this one);
- GET /metrics latency (computed from the database at each scrape) once those captures are in it;
- the live preview (bench/preview.py, its own server; `bench/run.py preview` runs only this one): CPU by
  viewers, frame and snapshot latency, the gap around a capture, status with 20 viewers, an owner's restart,
  warm against cold stills.

Every request loop is bounded in count and time. Numbers are noisy on shared machines.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import descendants, per_process, pss_kb, rss_kb, running, stop_server  # noqa: E402
from bench.timelapse import timelapse_memory  # noqa: E402
from capture.camera.lock import CameraLock  # noqa: E402
from tests.net import free_port, wait_for_http  # noqa: E402
from tests.standins import install_standins  # noqa: E402

# Issue 15: the Node server answered a 409 in 7 ms with a new connection per request (as curl makes them).
NODE_409_NEW_CONNECTION_MS = 7

TARGETS = {
    "status_p50_ms": ("<=", 5),
    "status_new_connection_p50_ms": ("<=", 5),
    "status_rps_8_clients": (">=", 300),
    "capture_server_ms_p50": ("<=", 5),
    "busy_409_p50_ms": ("<=", 5),
    "busy_409_new_connection_p50_ms": ("<", NODE_409_NEW_CONNECTION_MS),
    "uploads_vs_nginx_ratio": (">=", 0.8),
    "memory_idle_mb": ("<=", 100),
    "timelapse_peak_pss_mb": ("<=", 300),
}


class KeepAliveClient:
    """A thin HTTP/1.1 keep-alive client. `requests` spends about 1.5 ms of client CPU per call on this
    machine, more than the server's own cost on the hot endpoints, so latency loops use http.client."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()


def new_connection_request(url: str, method: str, path: str, body: dict | None = None) -> tuple[int, float]:
    """One request on a connection of its own, as curl makes it: (status, ms from connect to the last byte)."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Connection": "close", **({"Content-Type": "application/json"} if payload is not None else {})}
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status, (time.perf_counter() - started) * 1000


def machine_wake_cost(count: int = 20, pause_sec: float = 1.7) -> dict:
    """A minimal HTTP exchange on loopback (a bare socket server thread answering a fixed response, and
    http.client) back to back and after a pause: what this machine itself adds to the first request after it
    sat idle, with no framework involved. A capture always follows such a pause (the camera's run)."""
    server = socket.create_server(("127.0.0.1", 0))
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"

    def serve() -> None:
        for _ in range(2 * count):
            conn, _ = server.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    try:
        back_to_back = [new_connection_request(url, "GET", "/")[1] for _ in range(count)]
        after_pause = []
        for _ in range(count):
            time.sleep(pause_sec)
            after_pause.append(new_connection_request(url, "GET", "/")[1])
    finally:
        thread.join(timeout=5)
        server.close()
    return {
        "back_to_back_p50_ms": percentiles(back_to_back)["p50"],
        "after_pause_p50_ms": percentiles(after_pause)["p50"],
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"p50": round(statistics.median(ordered), 2), "p90": round(p90, 2), "n": len(ordered)}


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.uploads = tmp / "uploads"
        self.state = tmp / "standin-state"
        self.state.mkdir()
        bin_dir = install_standins(tmp / "bin")
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "STANDIN_STATE_DIR": str(self.state),
            "DJANGO_SETTINGS_MODULE": "camsite.settings",
            "DJANGO_SECRET_KEY": "bench-secret",
            "DATABASE_PATH": str(tmp / "db.sqlite3"),
            "UPLOAD_DIR": str(self.uploads),
            "CAMERA_LOCK_PATH": str(tmp / "camera.lock"),
            "CAMERA_BACKEND": "rpicam",
            "PORT": str(self.port),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "LOG_LEVEL": "warning",
            "HUEY_SQLITE_PATH": str(tmp / "huey.sqlite3"),
        }
        self.proc: subprocess.Popen | None = None
        self.session = requests.Session()

    # --- server ---

    def start(self) -> None:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True)
        self.log = (self.tmp / "server.log").open("wb")
        self.proc = subprocess.Popen([*manage, "serve"], cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            wait_for_http(f"{self.url}/api/camera/status", timeout=60)
        except BaseException:
            self.stop()
            raise
        time.sleep(2)  # let the worker finish booting before measuring memory

    def stop(self) -> None:
        stop_server(self.proc)

    def memory_mb(self) -> dict[str, float]:
        """Memory of serve and all its descendants (gunicorn master and workers, the analysis worker).

        RSS counts pages shared between processes (the Python binary, libraries) once per process; PSS
        divides each shared page among its sharers, so the PSS sum is what the server really occupies."""
        rss = pss = processes = 0
        for pid in descendants(self.proc.pid):
            try:
                rss += rss_kb(pid)
                pss += pss_kb(pid)
                processes += 1
            except OSError:
                pass  # ended meanwhile
        return {"pss_mb": round(pss / 1024, 1), "rss_mb": round(rss / 1024, 1), "processes": processes}

    # --- measurements ---

    def status_latency(self, count: int = 300) -> dict:
        client = KeepAliveClient(self.url)
        for _ in range(20):
            client.request("GET", "/api/camera/status")
        return percentiles([timed(lambda: client.request("GET", "/api/camera/status")) for _ in range(count)])

    def status_latency_new_connection(self, count: int = 300) -> dict:
        samples = []
        for _ in range(count):
            status, ms = new_connection_request(self.url, "GET", "/api/camera/status")
            assert status == 200, status
            samples.append(ms)
        return percentiles(samples)

    def status_after_idle(self, count: int = 20, idle_sec: float = 1.7) -> dict:
        """Status with a new connection, each call after `idle_sec` with nothing to do: the pause a 1 s still
        leaves the server. Context for the capture overhead, which pays this wake-up twice (the request's
        arrival and the camera's exit): on a VM a request after a pause costs several ms more than back to
        back, whatever the server does."""
        samples = []
        for _ in range(count):
            time.sleep(idle_sec)
            status, ms = new_connection_request(self.url, "GET", "/api/camera/status")
            assert status == 200, status
            samples.append(ms)
        return percentiles(samples)

    def wait_for_idle_worker(self, timeout: float = 180) -> float:
        """Wait until the job worker has exited for lack of work (WORKER_IDLE_EXIT_SEC); seconds waited."""
        started = time.monotonic()
        while running(self.proc.pid, "run_huey"):
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the job worker was still running after {timeout} s")
            time.sleep(0.5)
        return round(time.monotonic() - started, 1)

    def metrics_latency(self, count: int = 100) -> dict:
        """GET /metrics, computed from the database: after the other steps' captures are in it."""
        client = KeepAliveClient(self.url)
        status, _ = client.request("GET", "/metrics")
        assert status == 200, status
        captures = self.session.get(f"{self.url}/api/captures/", timeout=30).json()["count"]
        return {
            **percentiles([timed(lambda: client.request("GET", "/metrics")) for _ in range(count)]),
            "captures": captures,
        }

    def status_throughput(self, clients: int = 8, seconds: float = 5) -> float:
        done = [0] * clients
        deadline = time.perf_counter() + seconds

        def client(index: int) -> None:
            http_client = KeepAliveClient(self.url)
            while time.perf_counter() < deadline:
                status, _ = http_client.request("GET", "/api/camera/status")
                assert status == 200
                done[index] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return round(sum(done) / (time.perf_counter() - started), 1)

    def capture_overhead(self, runs: int = 20) -> dict:
        body = {"format": "jpg", "durationSec": 1, "width": 640, "height": 480}
        direct_argv = ["rpicam-still", "--nopreview", "--camera", "0", "--timeout", "1000", "--width", "640",
                       "--height", "480", "--encoding", "jpg", "--output", str(self.tmp / "direct.jpg")]  # fmt: skip
        api_ms, direct_ms = [], []
        for _ in range(runs):
            api_ms.append(timed(lambda: self._post_ok(body)))
            direct_ms.append(timed(lambda: subprocess.run(direct_argv, env=self.env, check=True,
                                                          capture_output=True)))  # fmt: skip
        # The camera command's own run time varies by tens of ms from run to run, which swamps the paired
        # difference; the server records how long the command ran inside it (cameraMs), so wall - cameraMs
        # is the server's cost alone.
        rows = self.session.get(f"{self.url}/api/captures/?pageSize={runs}").json()["results"][::-1]
        return {
            **percentiles([a - d for a, d in zip(api_ms, direct_ms, strict=True)]),
            "api_p50_ms": round(statistics.median(api_ms), 1),
            "direct_p50_ms": round(statistics.median(direct_ms), 1),
            "server_only": percentiles([a - row["cameraMs"] for a, row in zip(api_ms, rows, strict=True)]),
        }

    def busy_409(self, count: int = 100) -> dict:
        holder = threading.Thread(target=self._post_ok, args=({"format": "h264", "durationSec": 8, "width": 640,
                                                                "height": 480},))  # fmt: skip
        holder.start()
        deadline = time.monotonic() + 30
        # Until its camera process runs: status says busy as soon as the holder's request tries the lock, which
        # may still fail (a camera listing releasing it), and then our first request would take the camera.
        while not self._camera_running():
            if not holder.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the capture that should hold the camera did not start")
            time.sleep(0.02)
        client, samples, fresh = KeepAliveClient(self.url), [], []
        for _ in range(count):
            started = time.perf_counter()
            status, body = client.request("POST", "/api/camera/capture", {"format": "jpg"})
            samples.append((time.perf_counter() - started) * 1000)
            assert status == 409, body
            status, ms = new_connection_request(self.url, "POST", "/api/camera/capture", {"format": "jpg"})
            assert status == 409, status
            fresh.append(ms)
        holder.join()
        return {**percentiles(samples), "new_connection": percentiles(fresh)}

    def uploads_throughput(self, size_mb: int = 50, repeats: int = 5) -> dict:
        name = "bench_50mb.mp4"
        (self.uploads / name).write_bytes(os.urandom(size_mb * 1024 * 1024))
        nginx = Nginx(self.tmp, self.uploads)
        try:
            ours = self._download_rates(f"{self.url}/uploads/{name}", repeats)
            theirs = self._download_rates(f"{nginx.url}/uploads/{name}", repeats)
        finally:
            nginx.stop()
        return {
            "ours_full_mb_s": ours["full"],
            "ours_range_mb_s": ours["range"],
            "nginx_full_mb_s": theirs["full"],
            "nginx_range_mb_s": theirs["range"],
            "ratio_full": round(ours["full"] / theirs["full"], 2),
            "ratio_range": round(ours["range"] / theirs["range"], 2),
        }

    def _download_rates(self, url: str, repeats: int) -> dict[str, float]:
        def rate(headers: dict) -> float:
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                response = self.session.get(url, headers=headers, stream=True)
                assert response.status_code in (200, 206), f"{url}: HTTP {response.status_code}"
                received = sum(len(chunk) for chunk in response.iter_content(1024 * 1024))
                samples.append(received / 1024 / 1024 / (time.perf_counter() - started))
            return round(statistics.median(samples), 1)

        return {"full": rate({}), "range": rate({"Range": "bytes=10485760-"})}

    def captures_per_minute(self, seconds: float = 30) -> dict:
        body = {"format": "jpg", "durationSec": 1, "width": 640, "height": 480}
        direct_argv = ["rpicam-still", "--nopreview", "--camera", "0", "--timeout", "1000", "--width", "640",
                       "--height", "480", "--encoding", "jpg", "--output", str(self.tmp / "direct.jpg")]  # fmt: skip

        def rate(one) -> float:
            count, deadline, started = 0, time.perf_counter() + seconds, time.perf_counter()
            while time.perf_counter() < deadline:
                one()
                count += 1
            return round(count / (time.perf_counter() - started) * 60, 1)

        api = rate(lambda: self._post_ok(body))
        direct = rate(lambda: subprocess.run(direct_argv, env=self.env, check=True, capture_output=True))
        return {"api": api, "camera_command": direct, "ratio": round(api / direct, 2)}

    def _camera_running(self) -> bool:
        """Whether a capture's camera process runs now, as the lock's record says."""
        holder = CameraLock(Path(self.env["CAMERA_LOCK_PATH"])).peek()
        return holder is not None and holder.busy and holder.cameraPgid is not None

    def _post_ok(self, body: dict) -> None:
        status, answer = KeepAliveClient(self.url).request("POST", "/api/camera/capture", body)
        assert status == 200, answer


class Nginx:
    """Debian's nginx serving the uploads directory on loopback, for comparison."""

    def __init__(self, tmp: Path, uploads: Path) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise SystemExit("nginx not found: apt-get install nginx (make bench needs it for the comparison)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        prefix = tmp / "nginx"
        prefix.mkdir()
        (prefix / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {prefix};
    proxy_temp_path {prefix};
    fastcgi_temp_path {prefix};
    uwsgi_temp_path {prefix};
    scgi_temp_path {prefix};
    server {{
        listen 127.0.0.1:{self.port};
        location /uploads/ {{ alias {uploads}/; }}
    }}
}}
""")
        self.proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
        wait_for_http(f"{self.url}/uploads/")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


PREVIEW_TARGETS = {
    "server_cpu_20_vs_1": ("<=", 1.3),
    "frame_latency_p50_ms": ("<=", 20),
    "snapshot_previewing_p50_ms": ("<=", 20),
    "gap_around_1s_capture_sec": ("<=", 2.5),
    "status_20_viewers_vs_idle": ("<=", 1.2),
    "warm_still_p50_ms": ("<=", 300),
}


def verdicts(figures: dict) -> dict:
    out = {}
    preview = figures.get("preview", {})
    flat = {
        **figures,
        "server_cpu_20_vs_1": preview.get("server_cpu_20_vs_1"),
        "frame_latency_p50_ms": preview.get("frame_latency", {}).get("p50_ms"),
        "snapshot_previewing_p50_ms": preview.get("snapshot", {}).get("previewing_p50_ms"),
        "gap_around_1s_capture_sec": preview.get("gap_around_1s_capture", {}).get("longest_gap_sec"),
        "status_20_viewers_vs_idle": preview.get("status", {}).get("ratio_p50"),
        "warm_still_p50_ms": preview.get("still_request_to_file", {}).get("warm_p50_ms"),
    }
    for name, (op, target) in {**TARGETS, **(PREVIEW_TARGETS if preview else {})}.items():
        if flat.get(name) is None:
            continue
        value = flat[name]
        met = {"<=": value <= target, "<": value < target, ">=": value >= target}[op]
        out[name] = {"value": value, "target": f"{op} {target}", "met": met}
    return out


def main() -> None:
    from bench.preview import preview_figures

    figures: dict = {}
    only = sys.argv[1:]
    if not only:
        figures.update(server_figures())
    if only in ([], ["preview"]):
        figures["preview"] = preview_figures()
    if only in ([], ["timelapse"]):
        with tempfile.TemporaryDirectory(prefix="camsite-bench-timelapse-") as tmp:
            timelapse = timelapse_memory(Path(tmp))
        figures["timelapse_1440_frames"] = timelapse
        figures["timelapse_peak_pss_mb"] = timelapse["peak_pss_mb"]
    figures["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform}
    figures["targets"] = verdicts(figures)
    print(json.dumps(figures, indent=2))


def server_figures() -> dict:
    with tempfile.TemporaryDirectory(prefix="camsite-bench-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - nginx's workers drop root and must read the uploads
        bench = Bench(Path(tmp))
        bench.start()
        try:
            figures: dict = {"memory_with_the_worker_up": bench.memory_mb()}
            figures["worker_exited_idle_after_sec"] = bench.wait_for_idle_worker()
            idle = bench.memory_mb()
            figures["memory_idle"] = {**idle, "per_process": per_process(bench.proc.pid)}
            figures["memory_idle_mb"] = idle["pss_mb"]
            status = bench.status_latency()
            figures["status_latency_ms"] = status
            figures["status_p50_ms"] = status["p50"]
            fresh = bench.status_latency_new_connection()
            figures["status_new_connection_ms"] = fresh
            figures["status_new_connection_p50_ms"] = fresh["p50"]
            figures["status_rps_8_clients"] = bench.status_throughput()
            figures["status_new_connection_after_1_7_s_idle_ms"] = bench.status_after_idle()
            figures["bare_socket_exchange_after_1_7_s_idle"] = machine_wake_cost()
            overhead = bench.capture_overhead()
            figures["capture_overhead_ms"] = overhead
            figures["capture_overhead_p50_ms"] = overhead["p50"]
            figures["capture_server_ms_p50"] = overhead["server_only"]["p50"]
            busy = bench.busy_409()
            figures["busy_409_ms"] = busy
            figures["busy_409_p50_ms"] = busy["p50"]
            figures["busy_409_new_connection_p50_ms"] = busy["new_connection"]["p50"]
            uploads = bench.uploads_throughput()
            figures["uploads_50mb"] = uploads
            figures["uploads_vs_nginx_ratio"] = min(uploads["ratio_full"], uploads["ratio_range"])
            figures["captures_per_minute"] = bench.captures_per_minute()
            figures["metrics_scrape_ms"] = bench.metrics_latency()
            figures["memory_after_load"] = bench.memory_mb()
        finally:
            bench.stop()
    figures["server"] = {name: bench.env.get(name, "default") for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS")}
    return figures


if __name__ == "__main__":
    main()
