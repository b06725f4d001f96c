"""A process tree's members and memory, read from /proc (stdlib only: every bench script shares it)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def descendants(root: int) -> list[int]:
    """`root` and every process below it, root first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages divided among their sharers, so a tree's sum is what it occupies.
    OSError when the process is gone."""
    return _field_kb(Path(f"/proc/{pid}/smaps_rollup"), "Pss:")


def rss_kb(pid: int) -> int:
    """Resident set size: shared pages counted in full in every process. OSError when the process is gone."""
    return _field_kb(Path(f"/proc/{pid}/status"), "VmRSS:")


def _field_kb(path: Path, field: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def per_process(root: int) -> list[dict]:
    """Each process under `root` (itself included): pid, the end of its command line, PSS and RSS in MB."""
    found = []
    for pid in descendants(root):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            pss, rss = pss_kb(pid), rss_kb(pid)
        except OSError:
            continue
        found.append({"pid": pid, "cmd": cmdline.strip()[-70:], "pss_mb": round(pss / 1024, 1),
                      "rss_mb": round(rss / 1024, 1)})  # fmt: skip
    return found


def running(root: int, last_arg: str) -> bool:
    """Whether a process under `root` has `last_arg` as the last word of its command line."""
    for pid in descendants(root):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")[-1] == last_arg.encode():
                return True
        except OSError:
            continue
    return False


def stop_server(proc: subprocess.Popen | None) -> None:
    """Stop a `manage.py serve` the way systemd would (SIGTERM), then its whole group if it hangs."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
