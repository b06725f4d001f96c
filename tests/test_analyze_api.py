"""POST /api/analyze and GET /api/analyze/<jobId>, and the job lifecycle in capture.analysis.jobs.

Here the queue is huey's in-memory one (camsite.test_settings) and a test runs the queued jobs itself with
run_queued(); tests/test_analyze_worker.py does the same with a real worker process.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone
from huey.exceptions import RetryTask
from PIL import Image

from capture.analysis import jobs, tasks
from capture.analysis.tasks import HUEY, analyze_job, recover_jobs
from capture.models import AnalysisJob, Capture

URL = "/api/analyze"


@pytest.fixture(autouse=True)
def empty_queue():
    HUEY.flush()
    yield
    HUEY.flush()


@pytest.fixture
def still(settings):
    """A finished JPEG in the upload directory, with no Capture row."""
    Image.new("L", (64, 48), 30).save(settings.MEDIA_ROOT / "still.jpg")
    return "still.jpg"


@pytest.fixture(autouse=True)
def no_thumbnails(monkeypatch):
    # Thumbnails are the gallery's (capture.thumbnails, tested there and end to end); keep these tests lean.
    monkeypatch.setattr(jobs, "make_thumbnail", lambda job, result: None)


def queued_pks() -> list[int]:
    return [task.args[0] for task in HUEY.pending() if isinstance(task, analyze_job.task_class)]


def run_queued() -> int:
    """What a worker does: take each message and run its job."""
    count = 0
    while (task := HUEY.dequeue()) is not None:
        analyze_job.call_local(*task.args)
        count += 1
    return count


def test_it_queues_a_job_and_answers_at_once(post_json, still):
    response = post_json(URL, {"filename": still, "path": f"/uploads/{still}"})
    assert response.status_code == 202
    body = response.json()
    assert body == {"ok": True, "jobId": body["jobId"], "status": "queued"}
    job = AnalysisJob.objects.get()
    assert str(job.job_id) == body["jobId"]
    assert (job.status, job.filename, job.result, job.started_at) == ("queued", still, None, None)
    assert queued_pks() == [job.pk]  # the analysis did not run on the request


def test_the_job_reports_its_result_once_a_worker_ran_it(post_json, api, still):
    job_id = post_json(URL, {"filename": still}).json()["jobId"]
    queued = api.get(f"{URL}/{job_id}").json()
    assert queued["status"] == "queued" and queued["startedAt"] is None and queued["result"] is None

    assert run_queued() == 1
    body = api.get(f"{URL}/{job_id}").json()
    assert body["ok"] is True and body["jobId"] == job_id
    assert body["status"] == "done"
    assert body["filename"] == still
    assert body["error"] is None and body["attempts"] == 1
    assert body["createdAt"] <= body["startedAt"] <= body["finishedAt"]
    assert body["result"]["exposure"] == "dark"
    assert (body["result"]["width"], body["result"]["height"]) == (64, 48)
    assert set(body) >= {"ok", "jobId", "status", "filename", "createdAt", "startedAt", "finishedAt", "error", "result"}


def test_path_alone_is_enough_and_the_seed_extras_are_accepted(post_json, still):
    body = {"path": f"/uploads/{still}", "captureId": 12, "url": f"http://pi.local:3000/uploads/{still}"}
    response = post_json(URL, body)
    assert response.status_code == 202
    assert AnalysisJob.objects.get().filename == still


def test_the_job_is_linked_to_its_capture_and_shown_with_it(post_json, api):
    capture = post_json("/api/camera/capture", {"format": "jpg", "width": 64, "height": 48, "durationSec": 0.2})
    row = Capture.objects.get()
    job_id = post_json(URL, {"filename": capture.json()["filename"], "captureId": row.pk}).json()["jobId"]
    assert AnalysisJob.objects.get().capture == row
    run_queued()

    detail = api.get(f"/api/captures/{row.pk}/").json()
    [job] = detail["analysisJobs"]
    assert job["jobId"] == job_id and job["status"] == "done" and job["captureId"] == row.pk
    assert job["result"]["width"] == 64
    assert "analysisJobs" not in api.get("/api/captures/").json()["results"][0]  # the list stays light


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "filename", "give filename, or path"),
        ({"filename": "nope.jpg"}, "filename", "No finished file nope.jpg"),
        ({"path": "/uploads/nope.jpg"}, "path", "No finished file nope.jpg"),
        ({"path": "/etc/passwd"}, "path", "must be /uploads/<file>"),
        ({"path": "/static/admin/img/icon.jpg"}, "path", "must be /uploads/<file>"),
        ({"path": "http://evil.test/uploads/x.jpg"}, "path", "must be /uploads/<file>"),
        ({"path": "/uploads/../db.sqlite3"}, "path", "is not a file name"),
        ({"filename": "../uploads/still.jpg"}, "filename", "is not a file name"),
        ({"filename": "/etc/hosts"}, "filename", "is not a file name"),
        ({"filename": "sub/still.jpg"}, "filename", "is not a file name"),
        ({"filename": "..\\still.jpg"}, "filename", "is not a file name"),
        ({"filename": "still.jpg\x00.txt"}, "filename", "Null characters are not allowed"),
        ({"path": "/uploads/%2e%2e%2fstill.jpg"}, "path", "No finished file %2e%2e%2fstill.jpg"),
        ({"filename": "still.jpg", "path": "/uploads/other.jpg"}, "path", "but filename is 'still.jpg'"),
        ({"filename": 42}, "filename", "42 is not a file the analyzer reads"),
        ({"filename": ["still.jpg"]}, "filename", "Not a valid string"),
    ],
)
def test_bad_requests_are_400_json_and_queue_nothing(post_json, still, body, field, message):
    response = post_json(URL, body)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert field in response.json()["fields"]
    assert message in response.json()["error"]
    assert not AnalysisJob.objects.exists() and queued_pks() == []


def test_files_being_written_hidden_or_unsupported_are_refused(post_json, settings):
    Image.new("L", (8, 8)).save(settings.MEDIA_ROOT / ".partial-7-0.jpg")  # a capture still being written
    (settings.MEDIA_ROOT / "notes.txt").write_text("hello")
    (settings.MEDIA_ROOT / "folder.jpg").mkdir()
    for name, message in [
        (".partial-7-0.jpg", "is hidden: a file still being written"),
        ("notes.txt", "is not a file the analyzer reads"),
        ("folder.jpg", "No finished file folder.jpg"),
    ]:
        response = post_json(URL, {"filename": name})
        assert response.status_code == 400, name
        assert message in response.json()["error"]
    assert not AnalysisJob.objects.exists()


def test_a_symlink_out_of_the_upload_directory_is_refused(post_json, settings, tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "outside.jpg")
    (settings.MEDIA_ROOT / "link.jpg").symlink_to(tmp_path / "outside.jpg")
    response = post_json(URL, {"filename": "link.jpg"})
    assert response.status_code == 400
    assert "No finished file link.jpg" in response.json()["error"]


def test_malformed_and_non_object_json_are_400(api, still):
    response = api.post(URL, data='{"filename": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON body")
    response = api.post(URL, data=json.dumps([still]), content_type="application/json")
    assert response.status_code == 400 and response.json()["ok"] is False
    assert not AnalysisJob.objects.exists()


@pytest.mark.parametrize("job_id", ["3f1e1b0c-0000-4000-8000-000000000000", "not-a-job", "1"])
def test_an_unknown_job_is_404_json(api, job_id):
    response = api.get(f"{URL}/{job_id}")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": f"No analysis job {job_id}"}


def test_the_analyzer_needs_the_bearer_token(post_json, api, settings, still):
    settings.AUTH_TOKEN = "tok"
    assert post_json(URL, {"filename": still}).status_code == 401
    response = post_json(URL, {"filename": still}, HTTP_AUTHORIZATION="Bearer tok")
    assert response.status_code == 202
    job_id = response.json()["jobId"]
    assert api.get(f"{URL}/{job_id}").status_code == 401
    assert api.get(f"{URL}/{job_id}", HTTP_AUTHORIZATION="Bearer tok").json()["status"] == "queued"


def test_a_queue_that_is_down_is_503_and_the_job_is_marked_failed(post_json, still, monkeypatch):
    def unreachable(pk):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.QUEUE, "put", unreachable)
    response = post_json(URL, {"filename": still})
    assert response.status_code == 503
    assert response.json()["ok"] is False
    assert "Could not queue the analysis: ConnectionError: Error 111" in response.json()["error"]
    job = AnalysisJob.objects.get()
    assert job.status == "failed" and job.error == response.json()["error"]


# --- The job lifecycle ----------------------------------------------------------------------------------


def new_job(filename: str, **fields) -> AnalysisJob:
    return AnalysisJob.objects.create(filename=filename, **fields)


def test_a_transient_failure_is_retried_with_a_doubling_delay_then_fails(db, still, settings, monkeypatch):
    settings.ANALYSIS_MAX_ATTEMPTS, settings.ANALYSIS_RETRY_DELAY_SEC = 3, 5

    def disk_error(path, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(jobs, "analyze_file", disk_error)
    job = new_job(still)
    delays = []
    for attempt in (1, 2):
        with pytest.raises(RetryTask) as retry:
            analyze_job.call_local(job.pk)  # huey schedules the message again after `delay`
        delays.append(retry.value.delay)
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("queued", attempt)
        assert job.error.startswith(f"Attempt {attempt} failed: OSError: [Errno 5] Input/output error")
    assert delays == [5, 10]

    analyze_job.call_local(job.pk)  # the last attempt: no retry
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error == "Failed after 3 attempts: OSError: [Errno 5] Input/output error"
    assert job.finished_at is not None


def test_a_permanent_failure_is_failed_at_once(db, settings):
    (settings.MEDIA_ROOT / "broken.jpg").write_bytes(b"not a jpeg")
    job = new_job("broken.jpg")
    analyze_job.call_local(job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.result) == ("failed", 1, None)
    assert job.error == "broken.jpg is not an image Pillow can read"


def test_a_file_deleted_after_queueing_fails(db, still, settings):
    job = new_job(still)
    (settings.MEDIA_ROOT / still).unlink()
    analyze_job.call_local(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "deleted after the job was queued" in job.error


def test_a_duplicate_message_runs_the_job_once(db, still):
    job = new_job(still)
    analyze_job.call_local(job.pk)
    finished = AnalysisJob.objects.get(pk=job.pk).finished_at
    analyze_job.call_local(job.pk)  # a second message for the same job (a recovery race)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.finished_at) == ("done", 1, finished)


def test_a_job_whose_workers_keep_dying_is_given_up(db, still, settings):
    settings.ANALYSIS_MAX_ATTEMPTS = 2
    job = new_job(still, attempts=2, error="Interrupted: worker process 123 stopped while running it")
    analyze_job.call_local(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "Gave up after 2 attempts: Interrupted: worker process 123 stopped while running it"


def test_a_late_answer_from_a_worker_presumed_dead_is_dropped(db, still, monkeypatch):
    job = new_job(still)
    real = jobs.analyze_file

    def taken_over_meanwhile(path, **kwargs):
        AnalysisJob.objects.filter(pk=job.pk).update(worker="otherhost:1:abc")  # recovery gave it away
        return real(path, **kwargs)

    monkeypatch.setattr(jobs, "analyze_file", taken_over_meanwhile)
    analyze_job.call_local(job.pk)
    job.refresh_from_db()
    assert (job.status, job.worker, job.result) == ("running", "otherhost:1:abc", None)


# --- Recovery: what a starting worker (and every minute) does ---------------------------------------------


def running_job(filename: str, worker: str, started_ago: float = 5) -> AnalysisJob:
    started = timezone.now() - timedelta(seconds=started_ago)
    return new_job(filename, status="running", worker=worker, started_at=started, attempts=1)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_job_whose_worker_process_died_is_queued_again_and_then_runs(db, still):
    job = running_job(still, f"{jobs.HOST}:{dead_pid()}:tok")
    assert tasks.recover_orphans() == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.worker) == ("queued", "")
    assert "Interrupted: worker process" in job.error
    assert queued_pks() == [job.pk]
    run_queued()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("done", 2, "")


def test_a_killed_but_unreaped_worker_counts_as_dead(db, still):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        proc.kill()
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped: a zombie
        job = running_job(still, f"{jobs.HOST}:{proc.pid}:tok")
        assert tasks.recover_orphans() == [job.pk]
    finally:
        proc.wait()


def test_a_job_of_a_live_worker_is_left_alone(db, still):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        job = running_job(still, f"{jobs.HOST}:{proc.pid}:tok", started_ago=0)
        job.started_at = timezone.now() + timedelta(seconds=1)  # the worker was running before the job started
        job.save()
        assert tasks.recover_orphans() == []
        assert AnalysisJob.objects.get(pk=job.pk).status == "running" and queued_pks() == []
    finally:
        proc.kill()
        proc.wait()


def test_a_pid_reused_by_a_newer_process_is_not_the_worker(db, still):
    proc = subprocess.Popen(["sleep", "30"])  # started now, so it can't have run a job that began an hour ago
    try:
        job = running_job(still, f"{jobs.HOST}:{proc.pid}:tok", started_ago=3600)
        assert tasks.recover_orphans() == [job.pk]
    finally:
        proc.kill()
        proc.wait()


def test_this_processs_own_job_that_it_no_longer_runs_is_recovered(db, still):
    job = running_job(still, f"{jobs.HOST}:{os.getpid()}:not-an-active-token")
    assert tasks.recover_orphans() == [job.pk]


def test_another_machines_job_is_recovered_only_once_stale(db, still, settings):
    settings.ANALYSIS_STALE_SEC = 600
    fresh = running_job(still, "other-pi:4242:tok", started_ago=60)
    stale = running_job(still, "other-pi:4243:tok", started_ago=601)
    assert tasks.recover_orphans() == [stale.pk]
    assert AnalysisJob.objects.get(pk=fresh.pk).status == "running"
    assert "no answer from worker other-pi after 600 s" in AnalysisJob.objects.get(pk=stale.pk).error


def test_a_queued_job_that_lost_its_message_is_queued_again_once(db, still):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    lost = new_job(still, created_at=an_hour_ago)  # a row with no message (say the queue file was deleted)
    waiting = new_job(still, created_at=an_hour_ago)
    analyze_job(waiting.pk)
    just_created = new_job(still)  # its message may be on its way: the API queues it right after the row
    assert tasks.recover_orphans() == [lost.pk]
    assert sorted(queued_pks()) == sorted([waiting.pk, lost.pk])
    assert tasks.recover_orphans() == []  # nothing is queued twice
    assert AnalysisJob.objects.get(pk=just_created.pk).status == "queued"


def test_finished_jobs_are_never_touched(db, still):
    new_job(still, status="done", worker="", attempts=1)
    new_job(still, status="failed", worker="", attempts=1, error="x")
    assert tasks.recover_orphans() == [] and queued_pks() == []


def test_the_tasks_keep_the_names_queued_messages_carry():
    # Messages queued before the tasks moved to capture.analysis.tasks name them capture.tasks.*.
    registry = HUEY._registry
    assert registry.task_to_string(analyze_job.task_class) == "capture.tasks.analyze_job"
    assert registry.task_to_string(recover_jobs.task_class) == "capture.tasks.recover_jobs"
    old_message = HUEY.serialize_task(analyze_job.s(7))
    assert b"capture.tasks.analyze_job" in old_message
    assert HUEY.deserialize_task(old_message).args == (7,)
