"""The web server's default size from the machine's memory (capture/lib/web_size.py, deploy/gunicorn.conf.py)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from capture.lib import web_size
from capture.lib.web_size import LARGE, SMALL, default_web_size, memory_total_bytes

CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"
MiB = 1024 * 1024


def meminfo(tmp_path: Path, total_kb: int) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       {total_kb} kB\nMemFree:        1000 kB\nMemAvailable:   2000 kB\n")
    return path


def test_it_reads_memtotal(tmp_path):
    assert memory_total_bytes(meminfo(tmp_path, 435_000)) == 435_000 * 1024


def test_unreadable_meminfo_is_unknown(tmp_path):
    assert memory_total_bytes(tmp_path / "missing") is None
    (tmp_path / "garbled").write_text("MemTotal: lots\n")
    assert memory_total_bytes(tmp_path / "garbled") is None


@pytest.mark.parametrize(
    ("total_mib", "size"),
    [
        (425, SMALL),  # Pi Zero 2 W: 512 MB less the camera's and GPU's share
        (906, SMALL),  # a 1 GB Pi 3 or Pi 4
        (1845, LARGE),  # a 2 GB Pi 4
        (8000, LARGE),  # an 8 GB Pi 5
        (None, LARGE),  # not Linux: the old default
    ],
)
def test_a_pi_with_1_gb_or_less_gets_one_worker_with_more_threads(total_mib, size):
    assert default_web_size(None if total_mib is None else total_mib * MiB) == size
    assert SMALL.workers == 1 and SMALL.threads > LARGE.threads


def test_gunicorn_conf_sizes_itself_from_memory_unless_told(monkeypatch, tmp_path):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    monkeypatch.setattr(web_size, "memory_total_bytes", lambda: 425 * MiB)
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["threads"]) == (SMALL.workers, SMALL.threads)

    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GUNICORN_THREADS", "2")
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["threads"]) == (3, 2)
