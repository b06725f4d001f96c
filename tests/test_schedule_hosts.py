"""Schedules and timelapses on a shared database (CAMSITE_HOST): a schedule is its host's, each Pi's tick and
frames run only its own, the API and the admin show and filter the host, and what only the owning host can do
(run a frame, make a timelapse) is a clear 409 elsewhere. Retention and schedule tasks are on the host's own
queue.

The other host is rows written as `pi-b` would write them, as in tests/test_host_identity.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from capture.models import Capture
from capture.schedules import runner, timelapse
from capture.schedules.models import Schedule, TimelapseJob
from tests.conftest import ROOT
from tests.test_schedule_runner import ListQueue, make_schedule
from tests.test_timelapse import ListQueue as JobList
from tests.test_timelapse import make_frames

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

BODY = {"camera": 0, "everySec": 60, "format": "jpg", "width": 320, "height": 240, "durationSec": 0.1}


@pytest.fixture(autouse=True)
def pi_a(settings):
    settings.CAMSITE_HOST = "pi-a"


def theirs(**body) -> Schedule:
    schedule = make_schedule(**body)
    Schedule.objects.filter(pk=schedule.pk).update(host="pi-b")
    schedule.refresh_from_db()
    return schedule


def test_a_schedule_records_the_host_that_made_it_and_the_api_shows_it(api):
    answer = api.post("/api/schedules/", data=json.dumps(BODY), content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["host"] == "pi-a"
    assert Schedule.objects.get(pk=answer.json()["id"]).host == "pi-a"


def test_the_tick_queues_only_this_hosts_due_schedules():
    mine = make_schedule(everySec=60)
    other = theirs(everySec=60)
    assert mine.next_run_at and other.next_run_at  # both due now
    queue = ListQueue()

    assert runner.tick(queue) == [mine.pk]
    assert [pk for _, pk, _, _ in queue.messages] == [mine.pk]


def test_a_frame_message_for_another_hosts_schedule_takes_nothing(standins):
    other = theirs(everySec=60)

    assert runner.run_frame(other.pk, other.next_run_at, ListQueue()) is None

    other.refresh_from_db()
    assert other.runs == 0 and other.next_run_at is not None  # its own host's worker still takes that slot
    assert not Capture.objects.exists()
    assert not (standins / "runs.log").exists()


def test_a_change_made_elsewhere_queues_nothing_here():
    other = theirs(everySec=60)
    queue = ListQueue()
    runner.queue_if_due(other, queue)
    assert queue.messages == []


def test_run_now_of_another_hosts_schedule_is_a_409_naming_the_host(api, standins):
    other = theirs(everySec=60)

    answer = api.post(f"/api/schedules/{other.pk}/run")

    assert answer.status_code == 409
    assert answer.json()["ok"] is False and "pi-b" in answer.json()["error"]
    assert not Capture.objects.exists()
    assert not (standins / "runs.log").exists()


def test_the_list_filters_by_host_and_refuses_a_bad_one(api):
    mine = make_schedule(everySec=60)
    other = theirs(everySec=60)

    everyone = api.get("/api/schedules/").json()["results"]
    assert sorted((row["id"], row["host"]) for row in everyone) == [(mine.pk, "pi-a"), (other.pk, "pi-b")]
    only_b = api.get("/api/schedules/?host=pi-b").json()["results"]
    assert [row["id"] for row in only_b] == [other.pk]
    bad = api.get("/api/schedules/?host=../etc")
    assert bad.status_code == 400 and "host" in bad.json()["error"]


def test_the_admin_shows_and_filters_the_host(admin_client):
    make_schedule(name="garden", everySec=60)
    theirs(name="printer", everySec=60)

    everything = admin_client.get("/admin/capture/schedule/").content.decode()
    assert "By host" in everything and "column-host" in everything  # the filter and the column

    page = admin_client.get("/admin/capture/schedule/?host=pi-b").content.decode()
    assert "printer" in page and "garden" not in page


def test_a_timelapse_of_another_hosts_schedule_is_a_409(api):
    other = theirs(everySec=60)

    answer = api.post(
        f"/api/schedules/{other.pk}/timelapse", data=json.dumps({"fps": 5}), content_type="application/json"
    )

    assert answer.status_code == 409 and "pi-b" in answer.json()["error"]
    assert not TimelapseJob.objects.exists()


def test_a_timelapse_of_another_hosts_frames_is_refused_naming_it():
    frames = make_frames(3)
    Capture.objects.filter(pk=frames[1].pk).update(host="pi-b")

    with pytest.raises(timelapse.TimelapseRefused, match="another host \\(pi-b\\)"):
        timelapse.submit(Capture.objects.order_by("requested_at"), JobList(), fps=5)

    assert not TimelapseJob.objects.exists()


def test_a_job_records_its_host_and_another_hosts_worker_leaves_it_queued(settings):
    job = timelapse.submit(make_frames(2), JobList(), fps=5)
    assert job.host == "pi-a"

    settings.CAMSITE_HOST = "pi-b"
    timelapse.run(job.pk)
    job.refresh_from_db()
    assert job.status == TimelapseJob.Status.QUEUED  # pi-b has neither these frames nor pi-a's disk

    settings.CAMSITE_HOST = "pi-a"
    timelapse.run(job.pk)
    job.refresh_from_db()
    assert job.status == TimelapseJob.Status.DONE and job.result.host == "pi-a"


def test_recovery_at_start_leaves_another_hosts_running_job_alone():
    job = timelapse.submit(make_frames(2), JobList(), fps=5)
    TimelapseJob.objects.filter(pk=job.pk).update(
        host="pi-b", status=TimelapseJob.Status.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )

    assert timelapse.recover_interrupted() == 0

    job.refresh_from_db()
    assert job.status == TimelapseJob.Status.RUNNING and job.error == ""


def test_the_tasks_run_on_the_hosts_own_queue_on_a_shared_redis(tmp_path):
    # Settings are read once at start: a fresh process as pi-q with the Redis queue (no Redis is contacted).
    code = (
        "import json, django; django.setup(); from huey.contrib.djhuey import HUEY; import capture.tasks; "
        "print(json.dumps([HUEY.name, sorted(HUEY._registry._registry)]))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "camsite.settings",
        "DJANGO_SECRET_KEY": "k",
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        "CAMSITE_HOST": "pi-q",
        "HUEY_BACKEND": "redis",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    name, tasks = json.loads(result.stdout)
    assert name == "camsite-pi-q"
    for task in ("retention_sweep", "reconcile_uploads", "schedule_tick", "schedule_frame", "timelapse_job"):
        assert any(registered.endswith(f".{task}") for registered in tasks), (task, tasks)
