"""The files in deploy/ are checked by the tools that will read them, and against each other.

Running install.sh for real (and the installed server behind nginx) is tests/test_install.py.
"""

from __future__ import annotations

import configparser
import http.client
import os
import re
import runpy
import shutil
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import pytest

from capture.camera.budget import capture_budget
from capture.camera.request import CaptureRequest
from tests.conftest import ROOT
from tests.net import free_port, serve_in_thread, wait_for_http

DEPLOY = ROOT / "deploy"
UNITS = ["camsite-web.service", "camsite-worker.service", "camsite-owner@.service"]
SBIN_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"


def read_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(DEPLOY / "systemd" / name)
    return unit


def env_example() -> dict[str, str]:
    lines = (DEPLOY / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def nginx_timeout(directive: str) -> int:
    site = (DEPLOY / "nginx" / "camsite.conf").read_text()
    return int(re.search(rf"^\s*{directive}\s+(\d+)s;", site, re.M)[1])


def test_gunicorn_accepts_its_config_and_loads_the_app(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "camsite.settings",
        "DJANGO_SECRET_KEY": "check",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        "CAMERA_LOCK_PATH": str(tmp_path / "camera.lock"),
        "CAMERA_BACKEND": "simulated",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    check = [str(gunicorn), "--check-config", "-c", "deploy/gunicorn.conf.py", "camsite.wsgi"]
    result = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # And it is a real check: the app's own settings are loaded (a production server needs a readable key;
    # a missing key file rather than no key at all, since a checkout's .secret_key would give one).
    del env["DJANGO_SECRET_KEY"]
    env["DJANGO_SECRET_KEY_FILE"] = str(tmp_path / "missing")
    result = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"DJANGO_SECRET_KEY_FILE ({tmp_path / 'missing'})" in result.stderr


def test_each_layer_waits_longer_than_the_one_below_it(monkeypatch, settings):
    """camera budget < gunicorn's timeout < nginx's proxy timeout < systemd's stop timeout."""
    for name in ("CAPTURE_MAX_DURATION_SEC", "REMUX_TIMEOUT_SEC", "PORT", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)
    gunicorn = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    longest_video = capture_budget(
        CaptureRequest("mp4", 1920, 1080, 30, settings.CAPTURE_MAX_DURATION_SEC), simulated=False
    )
    longest_exposure = capture_budget(
        CaptureRequest("jpg", 1920, 1080, 30, settings.CAPTURE_MAX_DURATION_SEC, controls={"shutterUs": 60_000_000}),
        simulated=False,
    )
    for longest in (longest_video, longest_exposure):
        assert longest < gunicorn["timeout"] and longest < gunicorn["graceful_timeout"]
    assert gunicorn["timeout"] < nginx_timeout("proxy_read_timeout")
    assert gunicorn["timeout"] < nginx_timeout("proxy_send_timeout")
    assert gunicorn["graceful_timeout"] < int(read_unit("camsite-web.service")["Service"]["TimeoutStopSec"])
    # The worker's running analysis gets huey's shutdown_timeout before systemd's SIGKILL.
    worker_stop = int(read_unit("camsite-worker.service")["Service"]["TimeoutStopSec"])
    assert settings.HUEY["consumer"]["shutdown_timeout"] < worker_stop
    # systemd's stop signal is the one huey takes as "finish what you are doing" (huey's default: INT).
    graceful = "SIG" + settings.HUEY["consumer"].get("graceful_signal", "INT")
    assert read_unit("camsite-worker.service")["Service"].get("KillSignal", "SIGTERM") == graceful


@pytest.mark.parametrize("name", UNITS)
def test_the_units_run_as_the_camera_user_with_the_env_file_and_restart(name):
    service = read_unit(name)["Service"]
    assert (service["User"], service["Group"]) == ("camsite", "camsite")
    assert service["EnvironmentFile"] == "/etc/camsite/env"
    assert service["WorkingDirectory"] == "/opt/camsite/app"
    assert service["Restart"] == "on-failure"
    # SIGTERM to the main process only: the camera process is not killed under a capture that is finishing.
    assert service["KillMode"] == "mixed"
    assert read_unit(name)["Install"]["WantedBy"] == "multi-user.target"


def test_the_web_server_may_use_the_camera():
    # install.sh puts camsite in the video group too; the unit says so where the reader looks.
    assert "video" in read_unit("camsite-web.service")["Service"]["SupplementaryGroups"].split()


def test_the_web_unit_runs_gunicorn_with_the_deploy_config_and_the_worker_unit_its_gate():
    assert read_unit("camsite-web.service")["Service"]["ExecStart"] == (
        "/opt/camsite/venv/bin/gunicorn -c /opt/camsite/app/deploy/gunicorn.conf.py"
    )
    assert read_unit("camsite-worker.service")["Service"]["ExecStart"] == (
        "/opt/camsite/venv/bin/python manage.py worker"
    )


@pytest.mark.parametrize("name", UNITS)
def test_the_sandbox_leaves_writable_exactly_what_the_settings_write(name):
    service = read_unit(name)["Service"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    writable = [PurePosixPath(path) for path in service["ReadWritePaths"].split()]
    env = env_example()
    for setting in ("DATABASE_PATH", "UPLOAD_DIR", "CAMERA_LOCK_PATH"):
        path = PurePosixPath(env[setting])
        assert any(path.is_relative_to(directory) for directory in writable), f"{setting}={path} is read-only"
    # The camera devices stay reachable: no private /dev and no device allow-list (ProtectClock implies one).
    assert service["PrivateDevices"] == "no"
    assert "DeviceAllow" not in service and "DevicePolicy" not in service and "ProtectClock" not in service


def test_the_camera_lock_is_shared_by_the_services_and_the_command_line():
    lock = PurePosixPath(env_example()["CAMERA_LOCK_PATH"])
    # The units have a private /tmp, so a lock there would not be the one camsite-manage sees.
    assert read_unit("camsite-web.service")["Service"]["PrivateTmp"] == "yes"
    assert not lock.is_relative_to("/tmp") and not lock.is_relative_to("/var/tmp")
    # Its directory is made at boot for everyone, not by one unit's RuntimeDirectory.
    tmpfiles = (DEPLOY / "systemd" / "camsite.tmpfiles").read_text().splitlines()
    assert f"d {lock.parent} 0750 camsite camsite -" in tmpfiles
    # And the wrapper for the command line reads the same settings file as the units.
    assert "env_file=/etc/camsite/env" in (DEPLOY / "camsite-manage").read_text().splitlines()


def test_every_setting_in_the_env_template_is_explained_and_in_the_readme():
    lines = (DEPLOY / "env.example").read_text().splitlines()
    readme = (ROOT / "README.md").read_text()
    for number, line in enumerate(lines):
        match = re.match(r"#?([A-Z][A-Z0-9_]+)=", line)
        if not match:
            continue
        assert lines[number - 1].startswith("#"), f"{match[1]} has no comment line above it"
        assert f"`{match[1]}`" in readme, f"{match[1]} is missing from README.md's configuration table"


def test_the_nginx_site_proxies_the_app_and_serves_files_itself():
    site = (DEPLOY / "nginx" / "camsite.conf").read_text()
    upstream = re.search(r"upstream camsite \{\s*server ([\d.:]+);", site)[1]
    assert upstream == env_example()["GUNICORN_BIND"]
    assert "alias /var/lib/camsite/uploads/;" in site
    assert f"alias {env_example()['UPLOAD_DIR']}/;" in site
    assert "alias /opt/camsite/app/staticfiles/;" in site
    assert re.search(r"location / \{[^}]*proxy_pass http://camsite;", site)
    assert re.search(r"client_max_body_size \d+[km];", site)


def test_nginx_accepts_the_site(tmp_path):
    result = nginx_test(tmp_path, include=DEPLOY / "nginx" / "camsite.conf")
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class _AppStandIn(BaseHTTPRequestHandler):
    """The app's side of /uploads/ behind nginx (tested for real in tests/test_uploads_access.py): `?token=ok`
    is let through with X-Accel-Redirect to where nginx said (X-Accel-Uploads), anything else is a 401. It hands
    over any name, so what nginx refuses (dotfiles, symlinks) is nginx's own refusal."""

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if query == "token=ok" and self.headers.get("X-Accel-Uploads"):
            self.send_response(200)
            self.send_header("X-Accel-Redirect", self.headers["X-Accel-Uploads"] + path.removeprefix("/uploads/"))
        else:
            self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def nginx_uploads(tmp_path):
    """The repo's site in a real nginx on a free port, serving /uploads/ from a temporary upload directory
    that holds a finished capture, a partial one, a thumbnail and symlinks to the hidden ones, with a stand-in
    for the app that lets `?token=ok` through (_AppStandIn)."""
    nginx = shutil.which("nginx", path=SBIN_PATH)
    if nginx is None:
        pytest.skip("nginx is not installed (CI installs it: .ci/run)")
    uploads = tmp_path / "uploads"
    (uploads / ".thumbnails").mkdir(parents=True)
    (uploads / "a.jpg").write_bytes(b"\xff\xd8finished")
    (uploads / ".partial-1-0.mp4").write_bytes(b"half a video")
    (uploads / ".thumbnails" / "a.jpg.small.jpg").write_bytes(b"\xff\xd8thumb")
    (uploads / "link-to-partial.mp4").symlink_to(uploads / ".partial-1-0.mp4")
    (uploads / "link-to-thumbnail.jpg").symlink_to(uploads / ".thumbnails" / "a.jpg.small.jpg")
    app = ThreadingHTTPServer(("127.0.0.1", 0), _AppStandIn)
    serve_in_thread(app)
    port = free_port()
    site = (DEPLOY / "nginx" / "camsite.conf").read_text()
    for old, new in [
        ("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;"),
        ("listen [::]:80 default_server;\n", ""),
        ("alias /var/lib/camsite/uploads/;", f"alias {uploads}/;"),
        ("server 127.0.0.1:3000;", f"server 127.0.0.1:{app.server_port};"),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site)
    conf = write_nginx_conf(tmp_path, include=tmp_path / "site.conf")
    argv = [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log"), "-g", "daemon off;"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/uploads/a.jpg?token=ok", timeout=20)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        app.shutdown()
        app.server_close()


def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (http.client sends it unnormalised, unlike requests)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_nginx_serves_finished_captures_once_the_app_lets_the_request_through(nginx_uploads, tmp_path):
    assert raw_get(nginx_uploads, "/uploads/a.jpg?token=ok") == (200, b"\xff\xd8finished")
    assert raw_get(nginx_uploads, "/uploads/a.jpg")[0] == 401
    assert raw_get(nginx_uploads, "/uploads/a.jpg?token=no")[0] == 401
    # The files' own location is reachable only through the app's X-Accel-Redirect.
    assert raw_get(nginx_uploads, "/internal-uploads/a.jpg")[0] == 404
    # URLs may carry tokens and signed links: nginx keeps no access log of them.
    access_log = tmp_path / "access.log"
    assert not access_log.exists() or "token=" not in access_log.read_text()


def test_nginx_answers_ranges_on_the_files_it_sends(nginx_uploads):
    connection = http.client.HTTPConnection("127.0.0.1", nginx_uploads, timeout=10)
    try:
        connection.request("GET", "/uploads/a.jpg?token=ok", headers={"Range": "bytes=0-1"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (206, b"\xff\xd8")
        assert response.getheader("Content-Type") == "image/jpeg"
        assert response.getheader("Cache-Control") == "no-cache"
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/uploads/.partial-1-0.mp4",
        "/uploads/%2Epartial-1-0.mp4",
        "/uploads//.partial-1-0.mp4",
        "/uploads/x/../.partial-1-0.mp4",
        "/uploads/.thumbnails",
        "/uploads/.thumbnails/",
        "/uploads/.thumbnails/a.jpg.small.jpg",
        "/uploads/%2Ethumbnails%2Fa.jpg.small.jpg",
        "/uploads/.%74humbnails/a.jpg.small.jpg",
    ],
)
def test_nginx_never_serves_a_partial_file_or_the_thumbnail_cache(nginx_uploads, path):
    assert raw_get(nginx_uploads, path)[0] == 404
    assert raw_get(nginx_uploads, f"{path}?token=ok")[0] == 404


@pytest.mark.parametrize("path", ["/uploads/link-to-partial.mp4", "/uploads/link-to-thumbnail.jpg"])
def test_nginx_follows_no_symlink_to_them_either(nginx_uploads, path):
    status, body = raw_get(nginx_uploads, f"{path}?token=ok")
    assert status in (403, 404)  # disable_symlinks: 403
    assert b"half a video" not in body and b"thumb" not in body


def nginx_test(prefix: Path, include: Path | str) -> subprocess.CompletedProcess:
    """`nginx -t` on a main config under `prefix` that includes the site; skips where nginx is missing."""
    nginx = shutil.which("nginx", path=SBIN_PATH)
    if nginx is None:
        pytest.skip("nginx is not installed (CI installs it: .ci/run)")
    conf = write_nginx_conf(prefix, include=include)
    return subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )


def write_nginx_conf(prefix: Path, include: Path | str) -> Path:
    """A main nginx.conf under `prefix` (pid, logs and temp files there) that includes the site(s)."""
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read pytest's private temp dirs
    temp = "\n".join(
        f"  {kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{}}
http {{
  include /etc/nginx/mime.types;
  access_log {prefix}/access.log;
{temp}
  include {include};
}}
"""
    )
    return conf


def test_install_sh_passes_bash_n_and_shellcheck():
    for script, shell in (("install.sh", "bash"), ("camsite-manage", "sh")):
        result = subprocess.run([shell, "-n", str(DEPLOY / script)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (CI installs it: .ci/run)")
    result = subprocess.run(
        [shellcheck, str(DEPLOY / "install.sh"), str(DEPLOY / "camsite-manage")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout
