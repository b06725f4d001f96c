"""Host identity: two servers on one database (CAMSITE_HOST) never touch each other's rows.

The other host here is rows written as `pi-b` would write them; the fleet test (tests/test_fleet.py) does it
with real servers on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from PIL import Image

from camsite.env import env_host_name
from capture.analysis import jobs, tasks
from capture.analysis.tasks import HUEY
from capture.models import AnalysisJob, Capture
from tests.captures import make_row, take

OTHER = "pi-b"


@pytest.fixture(autouse=True)
def this_host(settings):
    settings.CAMSITE_HOST = "pi-a"
    HUEY.flush()
    yield "pi-a"
    HUEY.flush()


def test_a_row_records_the_host_that_made_it(db):
    assert take().host == "pi-a"
    job = tasks.submit(Capture.objects.get().filename)
    assert job.host == "pi-a"


def test_crash_recovery_marks_only_this_hosts_running_rows_of_the_camera(db):
    mine = make_row(status=Capture.Status.RUNNING, camera_index=0)
    theirs = make_row(status=Capture.Status.RUNNING, camera_index=0, host=OTHER)

    take()  # holds camera 0's lock, so running rows of camera 0 on this host are a dead holder's

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == Capture.Status.INTERRUPTED
    assert theirs.status == Capture.Status.RUNNING and theirs.error == ""  # pi-b's capture goes on


def test_status_counts_only_this_hosts_captures(api, db):
    later = timezone.now() + timedelta(hours=1)
    make_row(host=OTHER, finished_at=later)
    make_row(host=OTHER, status=Capture.Status.FAILED, error="pi-b's camera is unplugged", finished_at=later)

    body = api.get("/api/camera/status").json()
    assert body["host"] == "pi-a"
    assert body["lastCaptureAt"] is None and body["lastError"] is None

    row = take()
    body = api.get("/api/camera/status").json()
    assert body["lastCaptureAt"] == row.finished_at.isoformat().replace("+00:00", "Z")
    assert body["lastError"] is None


def test_the_camera_list_says_whose_cameras_they_are(api, db):
    body = api.get("/api/cameras/").json()
    assert body["host"] == "pi-a"
    assert {camera["host"] for camera in body["cameras"]} == {"pi-a"}


def test_history_rows_carry_their_host_and_filter_by_it(api, db):
    make_row(filename="a.jpg")
    make_row(filename="b.jpg", host=OTHER)

    everything = api.get("/api/captures/").json()["results"]
    assert {(row["host"], row["filename"]) for row in everything} == {("pi-a", "a.jpg"), (OTHER, "b.jpg")}
    only_b = api.get(f"/api/captures/?host={OTHER}").json()["results"]
    assert [(row["host"], row["filename"]) for row in only_b] == [(OTHER, "b.jpg")]
    assert api.get("/api/captures/?host=nobody").json()["results"] == []


def test_a_bad_host_filter_is_a_400_naming_it(api, db):
    response = api.get("/api/captures/?host=../etc")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid parameters: host: must be a host name")


def test_the_same_file_name_on_two_hosts_is_two_files(api, db, settings):
    # Each host publishes into its own upload directory: a name is unique per host, not across the fleet.
    theirs = make_row(filename="same.jpg", host=OTHER)
    Image.new("L", (32, 24), 10).save(settings.MEDIA_ROOT / "same.jpg")
    mine = make_row(filename="same.jpg")

    job = tasks.submit("same.jpg")
    assert job.capture_id == mine.pk  # this host's capture, never pi-b's

    assert theirs.path is None  # pi-b's file is on pi-b
    assert theirs.delete_with_files() == (0, 0)
    assert (settings.MEDIA_ROOT / "same.jpg").exists()  # this host's file of the same name stays
    assert mine.delete_with_files() == (1, 0)


def test_a_worker_never_claims_another_hosts_job(db, settings, monkeypatch):
    theirs = AnalysisJob.objects.create(filename="x.jpg", host=OTHER)
    analysed = []
    monkeypatch.setattr(jobs, "analyze", lambda job: analysed.append(job.pk) or {})

    jobs.run(theirs.pk)

    theirs.refresh_from_db()
    assert analysed == [] and theirs.status == AnalysisJob.Status.QUEUED and theirs.attempts == 0


def test_recovery_leaves_another_hosts_jobs_alone(db):
    long_ago = timezone.now() - timedelta(hours=2)
    running = AnalysisJob.objects.create(
        filename="x.jpg", host=OTHER, status=AnalysisJob.Status.RUNNING, worker="pi-b:1:t", started_at=long_ago
    )
    queued = AnalysisJob.objects.create(filename="y.jpg", host=OTHER, created_at=long_ago)
    mine = AnalysisJob.objects.create(filename="z.jpg", created_at=long_ago)  # queued with no message

    assert tasks.recover_orphans() == [mine.pk]

    running.refresh_from_db()
    queued.refresh_from_db()
    assert (running.status, running.worker) == (AnalysisJob.Status.RUNNING, "pi-b:1:t")
    assert queued.status == AnalysisJob.Status.QUEUED and queued.error == ""


def test_the_admin_shows_and_filters_the_host(admin_client, db):
    make_row(filename="from-a.jpg")
    make_row(filename="from-b.jpg", host=OTHER)

    page = admin_client.get("/admin/capture/capture/").content.decode()
    assert "By host" in page and "from-a.jpg" in page and "from-b.jpg" in page
    filtered = admin_client.get(f"/admin/capture/capture/?host={OTHER}").content.decode()
    assert "from-b.jpg" in filtered and "from-a.jpg" not in filtered


@pytest.mark.parametrize("value", ["pi a", "-pi", "pi/a", "x" * 64])
def test_a_bad_host_name_stops_startup_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("CAMSITE_HOST", value)
    with pytest.raises(ImproperlyConfigured, match="CAMSITE_HOST must be 1-63 letters"):
        env_host_name("CAMSITE_HOST", "default")


def test_the_host_defaults_to_the_machines_name(monkeypatch):
    monkeypatch.delenv("CAMSITE_HOST", raising=False)
    assert env_host_name("CAMSITE_HOST", "raspberrypi-7") == "raspberrypi-7"


def test_a_common_host_name_on_a_shared_database_is_a_startup_warning(settings):
    from unittest import mock

    from capture.checks import check_host_name_on_a_shared_database

    settings.CAMSITE_HOST = "raspberrypi"
    with mock.patch.dict(settings.DATABASES["default"], {"ENGINE": "django.db.backends.sqlite3"}):
        assert check_host_name_on_a_shared_database(None) == []  # one SQLite database: one server, any name
    with mock.patch.dict(settings.DATABASES["default"], {"ENGINE": "django.db.backends.postgresql"}):
        [warning] = check_host_name_on_a_shared_database(None)
        settings.CAMSITE_HOST = "pi-garden"
        assert check_host_name_on_a_shared_database(None) == []
    assert warning.id == "capture.W014" and "'raspberrypi'" in warning.msg
