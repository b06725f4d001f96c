"""PSS per process of the idle server, started as `make bench` starts it (`manage.py serve` with the stand-in
camera): which process holds the memory, for issue 15's budget. The environment passes through, so
`WEB_CONCURRENCY=1 GUNICORN_THREADS=8 .venv/bin/python bench/memory.py` measures that size.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import Bench  # noqa: E402

from bench.procs import descendants, pss_kb, rss_kb  # noqa: E402 - run put the checkout on sys.path


def per_process(root_pid: int) -> list[dict]:
    """Each process under `root_pid` (itself included): pid, short command line, PSS and RSS in MB."""
    found = []
    for pid in descendants(root_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            pss, rss = pss_kb(pid), rss_kb(pid)
        except OSError:
            continue
        found.append({"pid": pid, "cmd": cmdline.strip()[-70:], "pss_mb": round(pss / 1024, 1),
                      "rss_mb": round(rss / 1024, 1)})  # fmt: skip
    return found


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="camsite-memory-") as tmp:
        bench = Bench(Path(tmp))
        bench.start()
        try:
            bench.session.get(f"{bench.url}/api/camera/status", timeout=10)  # every worker thread warmed once
            time.sleep(1)
            processes = per_process(bench.proc.pid)
        finally:
            bench.stop()
    sizes = {name: os.environ.get(name, "default") for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS")}
    total = round(sum(p["pss_mb"] for p in processes), 1)
    print(json.dumps({"server": sizes, "pss_mb_total": total, "processes": processes}, indent=2))


if __name__ == "__main__":
    main()
