"""The timelapse's memory: peak PSS of a worker process and its ffmpeg while they assemble N generated 1080p
frames (1,440 by default: a day at one a minute). bench/run.py reports it as `timelapse_peak_pss_mb`.

The frames come from ffmpeg's testsrc2 (one command, JPEG quality like a camera's); the worker is a fresh
Python with the project's real settings and its own database, which makes the Capture rows, queues the job and
runs it exactly as the huey task does (capture.schedules.timelapse.run). Memory is sampled every 50 ms over
the worker and every process under it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.procs import descendants, pss_kb

ROOT = Path(__file__).resolve().parent.parent

_WORKER = """
import json, sys, time
import django
django.setup()
from django.core.management import call_command
from django.conf import settings
from django.utils import timezone
call_command("migrate", verbosity=0)
from capture.models import Capture
from capture.schedules import timelapse
from capture.schedules.models import Schedule
schedule = Schedule.objects.create(format="jpg", width=1920, height=1080, fps=30, duration_sec=1, every_sec=60)
now = timezone.now()
Capture.objects.bulk_create(
    Capture(format="jpg", width=1920, height=1080, fps=30, duration_sec=1, filename=path.name, status="ok",
            source="schedule", schedule=schedule, backend="simulated", requested_at=now,
            size_bytes=path.stat().st_size, file_width=1920, file_height=1080)
    for path in sorted(settings.MEDIA_ROOT.glob("frame*.jpg"))
)
class NoQueue:
    def put(self, pk):
        pass
job = timelapse.submit(timelapse.frames_of(schedule), NoQueue(), fps=int(sys.argv[1]), schedule=schedule)
print("start", flush=True)
started = time.monotonic()
timelapse.run(job.pk)
job.refresh_from_db()
print(json.dumps({"status": job.status, "error": job.error, "seconds": round(time.monotonic() - started, 1),
                  "frames": job.frames, "bytes": job.result.size_bytes if job.result else None,
                  "path": str(job.result.path) if job.result else None}), flush=True)
"""


def generate_frames(uploads: Path, count: int) -> float:
    """`count` 1920x1080 JPEGs in `uploads`; return the seconds it took."""
    started = time.monotonic()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25",
         "-frames:v", str(count), "-q:v", "3", str(uploads / "frame%05d.jpg")],
        check=True,
        timeout=1800,
    )  # fmt: skip
    return round(time.monotonic() - started, 1)


def pss_kb_of_tree(root: int) -> int:
    total = 0
    for pid in descendants(root):
        try:
            total += pss_kb(pid)
        except OSError:
            pass  # ended meanwhile
    return total


def timelapse_memory(tmp: Path, frames: int = 1440, fps: int = 25) -> dict:
    uploads = tmp / "uploads"
    uploads.mkdir(exist_ok=True)
    generate_sec = generate_frames(uploads, frames)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "camsite.settings",
        "DJANGO_SECRET_KEY": "bench-secret",
        "DATABASE_PATH": str(tmp / "timelapse.sqlite3"),
        "UPLOAD_DIR": str(uploads),
        "LOG_LEVEL": "warning",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(fps)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    peak = {"kb": 0, "samples": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak["kb"] = max(peak["kb"], pss_kb_of_tree(worker.pid))
            peak["samples"] += 1

    assert worker.stdout.readline().strip() == "start"
    idle_kb = pss_kb_of_tree(worker.pid)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = json.loads(worker.stdout.readline())
        worker.wait(timeout=60)
    finally:
        done.set()
        sampler.join()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    video = Path(result["path"]) if result["path"] else None
    return {
        "frames": frames,
        "size": "1920x1080",
        "fps": fps,
        "generate_frames_sec": generate_sec,
        "frames_mb": round(sum(p.stat().st_size for p in uploads.glob("frame*.jpg")) / 1e6, 1),
        "status": result["status"],
        "error": result["error"],
        "assemble_sec": result["seconds"],
        "video_mb": round(result["bytes"] / 1e6, 1) if result["bytes"] else None,
        "video_sec": _duration(video) if video else None,
        "worker_before_pss_mb": round(idle_kb / 1024, 1),
        "peak_pss_mb": round(peak["kb"] / 1024, 1),
        "samples": peak["samples"],
    }


def _duration(path: Path) -> float | None:
    import av

    with av.open(str(path)) as container:
        return container.duration / 1_000_000 if container.duration else None
