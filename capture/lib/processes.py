"""Whether a worker recorded as `host:pid` is still running (recovery of work a killed process left)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path


def process_alive(pid: int, since: datetime | None = None) -> bool:
    """Whether `pid` is a live process that was already running at `since` (not a later one reusing the pid):
    the recovery of analysis jobs and of event deliveries both ask it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, and someone else's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        with open("/proc/stat") as proc_stat:
            boot = next(int(line.split()[1]) for line in proc_stat if line.startswith("btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return True  # no /proc: the pid exists, assume it is the worker
    if stat[0] == "Z":
        return False  # killed, not yet reaped
    started = boot + int(stat[19]) / os.sysconf("SC_CLK_TCK")
    return since is None or started <= since.timestamp() + 1
