"""PSS per process of the server, started as `make bench` starts it (`manage.py serve` with the stand-in
camera): which process holds the memory, for issue 15's budget. Measured twice: just after start, with the job
worker up, and idle, once the worker has exited for lack of work (WORKER_IDLE_EXIT_SEC, 60 s by default). The
environment passes through, so `WEB_CONCURRENCY=2 .venv/bin/python bench/memory.py` measures that size.
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

from bench.procs import per_process  # noqa: E402 - run put the checkout on sys.path


def summary(processes: list[dict]) -> dict:
    return {"pss_mb_total": round(sum(p["pss_mb"] for p in processes), 1), "processes": processes}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="camsite-memory-") as tmp:
        bench = Bench(Path(tmp))
        bench.start()
        try:
            bench.session.get(f"{bench.url}/api/camera/status", timeout=10)
            time.sleep(1)
            awake = per_process(bench.proc.pid)
            asleep_after = bench.wait_for_idle_worker()
            bench.session.get(f"{bench.url}/api/camera/status", timeout=10)
            time.sleep(1)
            idle = per_process(bench.proc.pid)
        finally:
            bench.stop()
    sizes = {name: os.environ.get(name, "default") for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS")}
    print(json.dumps({"server": sizes, "idle": summary(idle), "worker_exited_after_sec": asleep_after,
                      "with_the_worker_up": summary(awake)}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
