"""deploy/install.sh, run for real in a throwaway root (--root: no apt, no systemd, no new user), then the
installed server started the way its systemd unit starts it, with nginx in front, both on 127.0.0.1.

The tests share one installation and run in file order; the last one uninstalls it.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_for_http
from tests.servers import DIE_WITH_TEST
from tests.standins import install_standins
from tests.test_deploy import SBIN_PATH, nginx_test, write_nginx_conf

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

UNITS = ["camsite-web.service", "camsite-worker.service"]


def run_install(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "deploy" / "install.sh"), *args], capture_output=True, text=True, timeout=500
    )


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as systemd's EnvironmentFile= reads this file."""
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith(("#", ";")))


@dataclass
class Installation:
    root: Path
    output: str
    tools: Path  # stand-in rpicam apps and their state

    def __post_init__(self) -> None:
        self.env_file = self.root / "etc/camsite/env"
        self.app = self.root / "opt/camsite/app"
        self.manage = self.root / "usr/local/bin/camsite-manage"
        self.units = self.root / "etc/systemd/system"
        self.site = self.root / "etc/nginx/sites-enabled/camsite"

    def settings(self) -> dict[str, str]:
        return read_env_file(self.env_file)

    def unit(self, name: str) -> configparser.SectionProxy:
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str
        unit.read(self.units / name)
        return unit["Service"]

    def base_env(self) -> dict[str, str]:
        """What systemd would give a service (its default PATH), plus the stand-in camera apps."""
        return {
            "PATH": f"{self.tools / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "STANDIN_STATE_DIR": str(self.tools / "state"),
            "STANDIN_STARTUP_SEC": "0.05",
        }

    def camsite_manage(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.manage), *args], env=self.base_env(), capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installation:
    root = tmp_path_factory.mktemp("root")
    result = run_install("--root", str(root), "--port", str(free_port()), "--python", sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr
    tools = tmp_path_factory.mktemp("camera")
    install_standins(tools / "bin")
    (tools / "state").mkdir()
    return Installation(root, result.stdout, tools)


class Served:
    """The installed services started as their systemd units start them (camsite-web: gunicorn, camsite-worker:
    the analysis worker), and nginx with the installed site."""

    def __init__(self, installation: Installation, tmp: Path) -> None:
        self.installation = installation
        self.gunicorn_url = f"http://{installation.settings()['GUNICORN_BIND']}"
        self.nginx_port = free_port()
        self.url = f"http://127.0.0.1:{self.nginx_port}"
        self.token = installation.settings()["AUTH_TOKEN"]
        self.gunicorn_log = tmp / "gunicorn.log"
        self.worker_log = tmp / "worker.log"
        self.procs: list[subprocess.Popen] = []
        self._start_unit("camsite-web.service", self.gunicorn_log)
        wait_for_http(f"{self.gunicorn_url}/api/camera/status", timeout=60)
        self._start_unit("camsite-worker.service", self.worker_log)
        self._start_nginx(tmp)

    def _start_unit(self, name: str, log_path: Path) -> None:
        """Run the unit's ExecStart in its WorkingDirectory with its EnvironmentFile and Environment."""
        service = self.installation.unit(name)
        env = {
            **self.installation.base_env(),
            **read_env_file(Path(service["EnvironmentFile"])),
            **dict(item.split("=", 1) for item in service["Environment"].split()),
        }
        with log_path.open("wb") as log:
            self.procs.append(
                subprocess.Popen(
                    [*DIE_WITH_TEST, *service["ExecStart"].split()],
                    cwd=service["WorkingDirectory"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def _start_nginx(self, tmp: Path) -> None:
        nginx = shutil.which("nginx", path=SBIN_PATH)
        if nginx is None:
            return
        # The installed site as it is, except that it listens on a free port of 127.0.0.1 instead of :80.
        site = self.installation.site.read_text()
        local = site.replace("listen 80 default_server;", f"listen 127.0.0.1:{self.nginx_port} default_server;")
        local = local.replace("listen [::]:80 default_server;\n", "")
        assert local.count("listen ") == 1
        (tmp / "site.conf").write_text(local)
        conf = write_nginx_conf(tmp, include=tmp / "site.conf")
        self.procs.append(
            subprocess.Popen(
                [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        wait_for_http(f"{self.url}/api/camera/status")

    @property
    def nginx_running(self) -> bool:
        return len(self.procs) == 3

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait()


@pytest.fixture(scope="module")
def served(installed, tmp_path_factory):
    served = Served(installed, tmp_path_factory.mktemp("served"))
    yield served
    served.stop()


def test_it_installs_the_app_settings_units_and_site(installed):
    root = installed.root
    settings = installed.settings()
    assert len(settings["DJANGO_SECRET_KEY"]) >= 50
    assert len(settings["AUTH_TOKEN"]) >= 40
    assert stat.S_IMODE(installed.env_file.stat().st_mode) == 0o640  # it holds secrets
    assert settings["DATABASE_PATH"] == f"{root}/var/lib/camsite/db/db.sqlite3"
    assert Path(settings["DATABASE_PATH"]).is_file()  # migrated
    assert settings["CAMERA_LOCK_PATH"] == f"{root}/run/camsite/camera.lock"
    assert (installed.app / "staticfiles" / "admin" / "css" / "base.css").is_file()  # collectstatic ran
    assert not (installed.app / ".venv").exists() and not (installed.app / "db.sqlite3").exists()
    for unit in UNITS:
        assert installed.unit(unit)["EnvironmentFile"] == str(installed.env_file)
    assert (root / "etc/tmpfiles.d/camsite.conf").is_file()
    assert installed.site.resolve() == root / "etc/nginx/sites-available/camsite"
    assert os.access(installed.manage, os.X_OK)


def test_it_prints_the_new_token_once_with_the_urls(installed):
    assert f"AUTH_TOKEN (shown this once; it is also in {installed.env_file}):" in installed.output
    assert installed.output.count(installed.settings()["AUTH_TOKEN"]) == 1
    assert "/api/camera/status" in installed.output and "/admin/" in installed.output


def test_running_it_again_keeps_the_settings_and_prints_no_token(installed):
    before = installed.env_file.read_bytes()
    result = run_install("--root", str(installed.root), "--python", sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed.env_file.read_bytes() == before
    assert installed.settings()["AUTH_TOKEN"] not in result.stdout
    assert f"keeping {installed.env_file}" in result.stdout


def test_the_installed_units_pass_systemd_analyze_verify(installed):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (tests/test_deploy.py parses the units instead)")
    result = subprocess.run(
        [analyze, "verify", *(str(installed.units / unit) for unit in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "camsite" not in result.stderr, result.stderr  # no warning about our units


def test_nginx_accepts_the_installed_site(installed, tmp_path):
    result = nginx_test(tmp_path, include=installed.site)
    assert result.returncode == 0, result.stderr


def test_the_installed_server_answers_status_only_with_its_token(served):
    assert requests.get(f"{served.gunicorn_url}/api/camera/status", timeout=10).status_code == 401
    status = requests.get(f"{served.gunicorn_url}/api/camera/status", headers=served.auth(), timeout=10)
    assert status.status_code == 200
    assert status.json()["backend"] == "rpicam"  # CAMERA_BACKEND=rpicam from the env file


def test_nginx_proxies_the_api_and_the_apps_file_checks_and_serves_the_files_itself(served):
    if not served.nginx_running:
        pytest.skip("nginx is not installed (CI installs it: .ci/run)")
    assert requests.get(f"{served.url}/api/camera/status", timeout=10).status_code == 401
    body = {"format": "jpg", "width": 640, "height": 480, "durationSec": 0.3}
    capture = requests.post(f"{served.url}/api/camera/capture", json=body, headers=served.auth(), timeout=60)
    assert capture.status_code == 200, capture.text
    url = capture.json()["url"]

    part = requests.get(f"{served.url}{url}", headers={"Range": "bytes=0-1"}, timeout=10)
    assert part.status_code == 206
    assert part.content == b"\xff\xd8"
    assert part.headers["Content-Type"] == "image/jpeg"
    assert part.headers["Content-Range"].startswith("bytes 0-1/")
    assert requests.get(f"{served.url}/uploads/{capture.json()['filename']}", timeout=10).status_code == 401
    uploads = Path(served.installation.settings()["UPLOAD_DIR"])
    (uploads / ".partial-99-0.jpg").write_bytes(b"\xff\xd8 half a photo")
    assert requests.get(f"{served.url}/uploads/.partial-99-0.jpg", timeout=10).status_code == 404
    static = requests.get(f"{served.url}/static/admin/css/base.css", timeout=10)
    assert static.status_code == 200 and static.headers["Content-Type"] == "text/css"
    # gunicorn checked the file requests (X-Accel-Redirect: nginx sent the bytes) and never saw the static ones.
    log = served.gunicorn_log.read_text()
    assert "POST /api/camera/capture 200" in log
    assert "GET /uploads/" in log and "/static/" not in log
    assert "sig=" not in log


def test_nginx_sends_captures_with_the_apps_cache_control(served):
    if not served.nginx_running:
        pytest.skip("nginx is not installed (CI installs it: .ci/run)")
    uploads = Path(served.installation.settings()["UPLOAD_DIR"])
    (uploads / "cache-check.jpg").write_bytes(b"\xff\xd8 a photo")
    app = requests.get(f"{served.gunicorn_url}/uploads/cache-check.jpg", headers=served.auth(), timeout=10)
    nginx = requests.get(f"{served.url}/uploads/cache-check.jpg", headers=served.auth(), timeout=10)
    assert app.headers["Cache-Control"] == "no-cache"
    # Exactly the app's: no max-age or Expires that would let a browser skip revalidating.
    assert (nginx.headers.get("Cache-Control"), nginx.headers.get("Expires")) == ("no-cache", None)


def test_nginx_lets_browsers_revalidate_a_capture(served):
    if not served.nginx_running:
        pytest.skip("nginx is not installed (CI installs it: .ci/run)")
    uploads = Path(served.installation.settings()["UPLOAD_DIR"])
    (uploads / "revalidate.jpg").write_bytes(b"\xff\xd8 a photo")
    first = requests.get(f"{served.url}/uploads/revalidate.jpg", headers=served.auth(), timeout=10)
    again = requests.get(
        f"{served.url}/uploads/revalidate.jpg",
        headers={**served.auth(), "If-None-Match": first.headers["ETag"]},
        timeout=10,
    )
    assert (first.status_code, "Last-Modified" in first.headers, again.status_code) == (200, True, 304)


def test_camsite_manage_shares_the_servers_database_and_camera_lock(served):
    installation = served.installation
    result = installation.camsite_manage("capture", "--json", "--width", "320", "--height", "240")
    assert result.returncode == 0, result.stderr
    filename = json.loads(result.stdout)["filename"]
    history = requests.get(f"{served.gunicorn_url}/api/captures/", headers=served.auth(), timeout=10).json()
    assert (history["results"][0]["filename"], history["results"][0]["source"]) == (filename, "cli")

    long = {"format": "h264", "width": 320, "height": 240, "durationSec": 4}
    with ThreadPoolExecutor(max_workers=1) as pool:
        api = pool.submit(
            requests.post, f"{served.gunicorn_url}/api/camera/capture", json=long, headers=served.auth(), timeout=60
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = requests.get(f"{served.gunicorn_url}/api/camera/status", headers=served.auth(), timeout=10)
            if status.json()["busy"]:
                break
            time.sleep(0.05)
        busy = installation.camsite_manage("capture", "--width", "320", "--height", "240")
        assert api.result().status_code == 200
    assert busy.returncode == 3, busy.stderr  # the same lock file: the command line waits for no one
    assert "Camera busy" in busy.stderr


def test_capture_and_analyze_is_done_by_the_installed_worker(served):
    body = {"format": "jpg", "width": 640, "height": 480, "durationSec": 0.3}
    url = f"{served.gunicorn_url}/api/camera/capture-and-analyze"
    queued = requests.post(url, json=body, headers=served.auth(), timeout=60)
    assert queued.status_code == 200, queued.text
    job_url = f"{served.gunicorn_url}/api/analyze/{queued.json()['jobId']}"
    deadline = time.monotonic() + 60
    job = {}
    while time.monotonic() < deadline and job.get("status") not in ("done", "failed"):
        time.sleep(0.2)
        job = requests.get(job_url, headers=served.auth(), timeout=10).json()
    assert job["status"] == "done", job
    assert (job["result"]["width"], job["result"]["height"]) == (640, 480)


def test_the_smoke_test_passes_through_nginx(served):
    if not served.nginx_running:
        pytest.skip("nginx is not installed (CI installs it: .ci/run)")
    # The token comes from the env file that camsite-manage loads (AUTH_TOKEN).
    result = served.installation.camsite_manage("smoke_test", "--url", served.url, timeout=200)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "4/4 steps passed"


def test_allowed_hosts_are_the_pis_own_names_not_any(installed):
    hosts = installed.settings()["DJANGO_ALLOWED_HOSTS"].split(",")
    host = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    addresses = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    assert "*" not in hosts
    assert {host, f"{host}.local", "localhost", "127.0.0.1"} <= set(hosts)
    for address in addresses:
        assert address in hosts or f"[{address}]" in hosts or address.startswith("fe80:")


def test_the_installed_server_refuses_another_host_name(served):
    status = f"{served.gunicorn_url}/api/camera/status"
    assert requests.get(status, headers={**served.auth(), "Host": "rebound.example"}, timeout=10).status_code == 400
    assert requests.get(status, headers={**served.auth(), "Host": "localhost"}, timeout=10).status_code == 200


def test_uninstall_keeps_the_captures_and_settings_and_purge_removes_the_rest(installed, served):
    served.stop()  # what `systemctl disable --now` does on a real system
    uploads = Path(installed.settings()["UPLOAD_DIR"])
    captures = sorted(path.name for path in uploads.iterdir() if not path.name.startswith("."))
    assert captures

    result = run_install("--root", str(installed.root), "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not (installed.root / "opt/camsite").exists()
    assert not installed.manage.exists() and not installed.site.exists()
    assert not any((installed.units / unit).exists() for unit in UNITS)
    assert sorted(path.name for path in uploads.iterdir() if not path.name.startswith(".")) == captures
    assert installed.env_file.is_file()

    result = run_install("--root", str(installed.root), "--uninstall", "--purge")
    assert result.returncode == 0, result.stderr
    assert [path for path in installed.root.rglob("*") if not path.is_dir()] == []
