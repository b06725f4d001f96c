"""`manage.py schedule`: create (the API's rules), list, enable, disable, delete, run-now, timelapse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from capture.models import Capture
from capture.schedules.models import Schedule
from tests.captures import make_row
from tests.cli import run_manage
from tests.conftest import probe

pytestmark = pytest.mark.django_db


def test_create_prints_the_id_and_list_shows_the_next_run(capsys):
    code, out, err = run_manage(
        capsys, "schedule", "create", "--every", "60", "--count", "10", "--width", "640", "--height", "480",
        "--duration", "0.5", "--rotation", "180", "--name", "garden",
    )  # fmt: skip
    assert code == 0, err
    schedule = Schedule.objects.get(pk=int(out.strip()))
    assert (schedule.every_sec, schedule.count, schedule.width, schedule.controls) == (60, 10, 640, {"rotation": 180})
    assert "next run" in err
    code, out, _ = run_manage(capsys, "schedule", "list")
    assert code == 0
    line = out.splitlines()[1]
    assert "garden" in line and "every 60s (0/10)" in line and schedule.next_run_at.strftime("%Y-%m-%d %H:%M") in line
    assert schedule.host in line.split()  # whose camera takes the frames (CAMSITE_HOST)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--every", "1", "--duration", "2"], "--every"),
        (["--cron", "nope"], "--cron"),
        (["--every", "60", "--width", "99999"], "--width"),
        (["--every", "60", "--daylight"], "--daylight"),
    ],
)
def test_create_refuses_bad_options_naming_them(capsys, args, named):
    code, _, err = run_manage(capsys, "schedule", "create", *args)
    assert code == 2 and named in err
    assert not Schedule.objects.exists()


def test_disable_enable_delete(capsys):
    _, out, _ = run_manage(capsys, "schedule", "create", "--every", "60")
    pk = out.strip()
    assert run_manage(capsys, "schedule", "disable", pk)[0] == 0
    assert Schedule.objects.get(pk=pk).next_run_at is None
    assert run_manage(capsys, "schedule", "enable", pk)[0] == 0
    assert Schedule.objects.get(pk=pk).next_run_at is not None
    assert run_manage(capsys, "schedule", "delete", pk)[0] == 0
    assert not Schedule.objects.exists()
    code, _, err = run_manage(capsys, "schedule", "delete", pk)
    assert code == 1 and f"no schedule #{pk}" in err


def test_run_now_takes_a_frame_here(capsys):
    _, out, _ = run_manage(
        capsys, "schedule", "create", "--every", "3600", "--width", "320", "--height", "240", "--duration", "0.1"
    )
    code, out, err = run_manage(capsys, "schedule", "run-now", out.strip())
    assert code == 0, err
    row = Capture.objects.get()
    assert str(row.path) == out.strip() and row.source == "schedule"


def test_timelapse_in_the_foreground_prints_the_video(capsys):
    _, out, _ = run_manage(capsys, "schedule", "create", "--every", "3600")
    schedule = Schedule.objects.get(pk=int(out.strip()))
    for n in range(6):
        row = make_row(filename=f"f{n}.jpg", schedule=schedule, requested_at=timezone.now() + timedelta(seconds=n))
        Image.new("RGB", (64, 48), (40 * n, 0, 0)).save(row.path)
    code, out, err = run_manage(capsys, "schedule", "timelapse", str(schedule.pk), "--fps", "3", "--foreground")
    assert code == 0, err
    assert probe(Capture.objects.get(source="timelapse").path)["duration"] == pytest.approx(2, abs=0.2)
    assert out.strip().endswith(".mp4")
    code, out, _ = run_manage(capsys, "schedule", "timelapse", str(schedule.pk))
    assert code == 0 and len(out.strip()) == 36  # queued for the worker: its job id
