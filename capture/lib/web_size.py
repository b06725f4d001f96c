"""How big the web server is when WEB_CONCURRENCY and GUNICORN_THREADS are not set: from the machine's memory.

Each gunicorn worker is a whole Django process (about 60 MB PSS), so on a Pi with 1 GB or less (a Pi Zero 2 W
has 512 MB, shared with the camera's buffers) one worker with more threads serves the same clients in half
the memory; a capture holds a thread for its whole duration, so threads, not processes, are what keeps
status and history answering. Larger machines keep two workers for the throughput of two GILs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A "1 GB" Pi reports about 0.9 GiB of MemTotal; a 2 GB one about 1.8 GiB.
SMALL_MACHINE_BYTES = 1536 * 1024 * 1024


@dataclass(frozen=True)
class WebSize:
    workers: int
    threads: int


SMALL = WebSize(workers=1, threads=8)
LARGE = WebSize(workers=2, threads=4)


def memory_total_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The machine's MemTotal, or None where /proc/meminfo can't be read (not Linux)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def default_web_size(total_bytes: int | None) -> WebSize:
    """One worker with 8 threads below 1.5 GiB, else two with 4; unknown memory counts as large."""
    if total_bytes is not None and total_bytes < SMALL_MACHINE_BYTES:
        return SMALL
    return LARGE
