"""STORAGE_BACKEND=s3 against a real S3 endpoint over HTTP (moto's standalone server, tests/s3.py).

The web side runs in-process with the test client; the worker's side is what `run_huey` runs, called here on
the messages in the in-memory queue.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from PIL import Image

from camsite.s3 import s3_storage
from capture.analysis.tasks import HUEY, analyze_job
from capture.models import AnalysisJob, Capture
from capture.upload_tasks import recover_uploads, upload_capture
from tests.captures import make_row, take
from tests.net import free_port
from tests.s3 import ACCESS_KEY, SECRET_KEY, MotoServer

pytestmark = pytest.mark.slow  # a real S3 server

PREFIX = "fleet"


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


def use_bucket(settings, endpoint: str, bucket: str) -> None:
    settings.STORAGE_BACKEND = "s3"
    settings.S3_BUCKET, settings.S3_PREFIX = bucket, PREFIX
    storage = s3_storage(
        bucket=bucket, endpoint_url=endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, prefix=PREFIX
    )
    settings.STORAGES = {**settings.STORAGES, "captures": storage}


@pytest.fixture(autouse=True)
def pi_a(settings):
    settings.CAMSITE_HOST = "pi-a"
    HUEY.flush()
    yield
    HUEY.flush()


@pytest.fixture
def bucket(moto, settings, db) -> str:
    name = moto.new_bucket()
    use_bucket(settings, moto.url, name)
    return name


def run_worker() -> list[str]:
    """Run every queued message as the worker would; return what each did ("ok", or the retry's message)."""
    outcomes = []
    while (task := HUEY.dequeue()) is not None:
        try:
            {"upload_capture": upload_capture, "analyze_job": analyze_job}[task.name.rpartition(".")[2]].call_local(
                *task.args
            )
            outcomes.append("ok")
        except Exception as exc:  # RetryTask: huey would schedule it again
            outcomes.append(str(exc))
    return outcomes


def jpeg(path, size=(96, 64), level=120) -> bytes:
    Image.new("RGB", size, (level, level, level)).save(path, quality=90)
    return path.read_bytes()


def test_a_capture_goes_to_the_bucket_with_its_thumbnails(moto, bucket, settings):
    row = take()
    assert row.upload_status == Capture.Upload.PENDING  # queued; the capture answered without waiting for it

    assert run_worker() == ["ok"]

    row.refresh_from_db()
    assert row.upload_status == Capture.Upload.UPLOADED and row.upload_error == "" and row.uploaded_at
    base = f"{PREFIX}/pi-a"
    assert moto.keys(bucket) == [
        f"{base}/.thumbnails/{row.filename}.large.jpg",
        f"{base}/.thumbnails/{row.filename}.small.jpg",
        f"{base}/{row.filename}",
    ]
    stored = moto.client().get_object(Bucket=bucket, Key=f"{base}/{row.filename}")
    assert stored["Body"].read() == (settings.MEDIA_ROOT / row.filename).read_bytes()  # kept locally (keep)
    assert stored["ContentType"] == "image/jpeg"


def test_without_a_local_copy_uploads_redirect_to_the_bucket_which_answers_range(api, admin_client, bucket, settings):
    settings.STORAGE_LOCAL_COPY = "none"
    row = take()
    local = (settings.MEDIA_ROOT / row.filename).read_bytes()
    run_worker()
    assert not (settings.MEDIA_ROOT / row.filename).exists()
    assert not list((settings.MEDIA_ROOT / ".thumbnails").glob(f"{row.filename}*"))

    response = api.get(f"/uploads/{row.filename}")
    assert response.status_code == 302
    presigned = response["Location"]
    assert presigned.startswith(settings.STORAGES["captures"]["OPTIONS"]["endpoint_url"])
    ranged = requests.get(presigned, headers={"Range": "bytes=10-99"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == local[10:100]
    # The admin's thumbnail comes from the bucket too: the one the worker made before uploading.
    thumbnail = admin_client.get(f"/admin/capture/capture/{row.pk}/thumbnail/small.jpg")
    assert thumbnail.status_code == 302
    assert requests.get(thumbnail["Location"], timeout=10).content[:2] == b"\xff\xd8"  # a JPEG


def test_another_hosts_capture_is_served_from_the_bucket_at_its_own_path(api, moto, bucket, settings):
    body = jpeg(settings.MEDIA_ROOT / "same.jpg")  # this host's file of the same name must not be served
    moto.client().put_object(Bucket=bucket, Key=f"{PREFIX}/pi-b/same.jpg", Body=b"pi-b's bytes")
    theirs = make_row(filename="same.jpg", host="pi-b", upload_status=Capture.Upload.UPLOADED)

    listed = api.get(f"/api/captures/{theirs.pk}/").json()
    assert listed["url"] == "/uploads/pi-b/same.jpg" and listed["uploadStatus"] == "uploaded"
    response = api.get("/uploads/pi-b/same.jpg")
    assert response.status_code == 302
    assert requests.get(response["Location"], timeout=10).content == b"pi-b's bytes"
    assert b"".join(api.get("/uploads/same.jpg").streaming_content) == body
    assert api.get("/uploads/pi-c/same.jpg").status_code == 404


def test_a_worker_analyses_another_hosts_capture_from_the_bucket(post_json, moto, bucket, settings, tmp_path):
    moto.client().put_object(Bucket=bucket, Key=f"{PREFIX}/pi-b/far.jpg", Body=jpeg(tmp_path / "far.jpg", level=250))
    theirs = make_row(filename="far.jpg", host="pi-b", width=96, height=64, upload_status=Capture.Upload.UPLOADED)

    response = post_json("/api/analyze", {"filename": "far.jpg", "path": "/uploads/far.jpg", "captureId": theirs.pk})
    assert response.status_code == 202, response.content
    assert run_worker() == ["ok"]

    job = AnalysisJob.objects.get()
    # This server's job (on its queue), of pi-b's capture.
    assert (job.status, job.host, job.capture.host) == (AnalysisJob.Status.DONE, "pi-a", "pi-b")
    assert (job.result["width"], job.result["height"], job.result["exposure"]) == (96, 64, "bright")
    assert sorted(p.name for p in settings.MEDIA_ROOT.iterdir()) == []  # the temporary copy is gone


def test_analysis_of_a_capture_still_uploading_waits_without_using_an_attempt(post_json, bucket):
    theirs = make_row(filename="soon.jpg", host="pi-b", upload_status=Capture.Upload.PENDING)
    post_json("/api/analyze", {"filename": "soon.jpg", "captureId": theirs.pk})

    outcome = run_worker()

    job = AnalysisJob.objects.get()
    assert (job.status, job.attempts) == (AnalysisJob.Status.QUEUED, 0)
    assert "still being uploaded from pi-b" in outcome[0]


def test_an_unreachable_bucket_is_retried_and_the_capture_stays_available(api, moto, settings, tmp_path):
    port = free_port()  # nothing listens here yet: the bucket's server is down
    use_bucket(settings, f"http://127.0.0.1:{port}", "later")
    settings.STORAGE_UPLOAD_RETRY_DELAY_SEC = 2
    row = take()

    [outcome] = run_worker()
    assert "Upload attempt 1 failed" in outcome and "retrying in 2 s" in outcome
    row.refresh_from_db()
    assert row.upload_status == Capture.Upload.PENDING and "Could not connect" in row.upload_error
    assert api.get(f"/uploads/{row.filename}").status_code == 200  # still served from the Pi

    server = MotoServer(tmp_path / "moto-late.log", port=port).start()  # the server comes back
    try:
        server.client().create_bucket(Bucket="later")
        upload_capture.call_local(row.pk)  # huey's retry
        row.refresh_from_db()
        assert (row.upload_status, row.upload_attempts, row.upload_error) == (Capture.Upload.UPLOADED, 2, "")
        assert f"{PREFIX}/pi-a/{row.filename}" in server.keys("later")
    finally:
        server.stop()


def test_a_bucket_that_refuses_the_write_fails_the_upload_with_its_answer_and_keeps_the_file(api, moto, settings, db):
    use_bucket(settings, moto.url, "no-such-bucket-here")
    row = take()

    assert run_worker() == ["ok"]  # not retried: asking again changes nothing

    row.refresh_from_db()
    assert row.upload_status == Capture.Upload.FAILED
    assert "the bucket refused to upload to s3://no-such-bucket-here/" in row.upload_error
    assert "NoSuchBucket" in row.upload_error and "The file is kept on pi-a" in row.upload_error
    assert api.get(f"/uploads/{row.filename}").status_code == 200
    assert ACCESS_KEY not in row.upload_error and SECRET_KEY not in row.upload_error
    detail = api.get(f"/api/captures/{row.pk}/").json()
    assert detail["uploadStatus"] == "failed" and "NoSuchBucket" in detail["uploadError"]


def test_deleting_a_capture_deletes_its_objects(api, moto, bucket):
    row = take()
    run_worker()
    assert moto.keys(bucket)

    assert api.delete(f"/api/captures/{row.pk}/").status_code == 200
    assert moto.keys(bucket) == []


def test_uploads_whose_messages_were_lost_are_queued_again(bucket, settings):
    settings.STORAGE_UPLOAD_RETRY_DELAY_SEC, settings.STORAGE_UPLOAD_MAX_ATTEMPTS = 5, 3  # retries end in 35 s
    now = timezone.now()
    pending = {"upload_status": Capture.Upload.PENDING}
    never_run = make_row(filename="never.jpg", finished_at=now - timedelta(minutes=3), **pending)
    just_taken = make_row(filename="new.jpg", finished_at=now - timedelta(seconds=30), **pending)
    killed = make_row(filename="killed.jpg", finished_at=now - timedelta(minutes=11), upload_attempts=2, **pending)
    retrying = make_row(filename="retry.jpg", finished_at=now - timedelta(minutes=3), upload_attempts=2, **pending)
    theirs = make_row(filename="b.jpg", host="pi-b", finished_at=now - timedelta(hours=1), **pending)

    recover_uploads.call_local()

    queued = {task.args[0] for task in HUEY.pending()}
    assert queued == {never_run.pk, killed.pk}
    assert {just_taken.pk, retrying.pk, theirs.pk}.isdisjoint(queued)
