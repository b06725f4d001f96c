"""A throwaway PostgreSQL cluster for the tests: Debian's postgresql binaries, a temporary data directory,
127.0.0.1 on a free port, stopped at the end of the session.

`CAMSITE_TEST_DB=postgres` runs the suite on it (tests/conftest.py points Django's test database there, and
GunicornServer gives each server a database of its own); tests that need PostgreSQL whatever the setting
(the fleet test) start it too. Each pytest process (an xdist worker) has its own cluster, so two workers
never share a database. Run as root, the cluster runs as the `postgres` user: postgres refuses root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.net import free_port

PG_BIN = Path(os.environ.get("CAMSITE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "camsite"


def wanted() -> bool:
    """Whether this run puts the Django test database on PostgreSQL."""
    choice = os.environ.get("CAMSITE_TEST_DB", "sqlite").strip().lower()
    if choice not in ("sqlite", "postgres"):
        raise RuntimeError(f"CAMSITE_TEST_DB must be sqlite or postgres, got {choice!r}")
    return choice == "postgres"


def available() -> bool:
    return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or _postgres_user() is not None)


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


class PostgresCluster:
    def __init__(self) -> None:
        # Not under pytest's tmp_path: its parent is private to root, and the server runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="camsite-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen | None = None

    def _as_owner(self, argv: list[str]) -> list[str]:
        # setpriv execs (runuser would fork and stand between us and the server's signals).
        if os.geteuid() != 0:
            return argv
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *argv]

    def start(self) -> PostgresCluster:
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            user = _postgres_user()
            for path in (self.root, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        subprocess.run(
            self._as_owner(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"]
                + ["--locale=C.UTF-8", "--no-sync"]
            ),
            check=True,
            capture_output=True,
            cwd=self.root,
            timeout=120,
        )
        self._launch()
        return self

    def _launch(self) -> None:
        # A test server: no durability (fsync off), so test databases are made and dropped quickly.
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "32MB",
        }
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        log = self.log_path.open("ab")
        if os.geteuid() == 0:
            os.chown(self.log_path, _postgres_user().pw_uid, -1)
        self.proc = subprocess.Popen(
            self._as_owner(argv), stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True
        )
        log.close()
        self._wait_ready()

    def pause(self) -> None:
        """Stop the server, keeping its data: every client loses its connections (a database outage)."""
        self._shutdown()

    def resume(self) -> None:
        """Start it again on the same port, with the same data."""
        self._launch()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.log()}")
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-q"],
                timeout=10,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres did not accept connections within {timeout} s:\n{self.log()}")

    def settings(self, name: str = "postgres") -> dict:
        """A DATABASES entry for database `name` on this cluster."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": SUPERUSER,
            "PASSWORD": "",
            "HOST": self.host,
            "PORT": str(self.port),
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": 5},
        }

    def url(self, name: str) -> str:
        return f"postgres://{SUPERUSER}@{self.host}:{self.port}/{name}"

    def create_database(self, prefix: str = "srv") -> str:
        """A new empty database on this cluster; returns its DATABASE_URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def sql(self, statement: str, database: str = "postgres") -> str:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(statement)
            return str(cursor.fetchall()) if cursor.description else ""

    def stop(self) -> None:
        """Stop the server and remove its data directory."""
        self._shutdown()
        shutil.rmtree(self.root, ignore_errors=True)

    def _shutdown(self) -> None:
        """Fast shutdown (SIGINT: abort sessions, then exit), SIGKILL after 20 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


_cluster: PostgresCluster | None = None


def cluster() -> PostgresCluster:
    """This process's cluster, started on first use; stop_cluster() ends it (conftest, at session end)."""
    global _cluster
    if _cluster is None:
        _cluster = PostgresCluster().start()
    return _cluster


def stop_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


def server_database_url() -> str | None:
    """For a server a test starts (GunicornServer): a fresh database when the suite runs on PostgreSQL."""
    return cluster().create_database() if wanted() else None
