"""The analyzer in the admin: the jobs' list and page, and "Analyze again" on captures."""

from __future__ import annotations

from django.utils import timezone
from PIL import Image

from capture.analysis.tasks import HUEY, analyze_job
from capture.models import AnalysisJob, Capture


def make_capture(settings, name: str, *, with_file: bool = True) -> Capture:
    if with_file:
        Image.new("L", (32, 24), 200).save(settings.MEDIA_ROOT / name)
    return Capture.objects.create(
        format="jpg", width=32, height=24, fps=30, duration_sec=1, filename=name, status="ok",
        backend="simulated", requested_at=timezone.now(),
    )  # fmt: skip


def test_the_jobs_list_shows_each_job_with_its_capture(admin_client, settings):
    capture = make_capture(settings, "a.jpg")
    done = AnalysisJob.objects.create(
        filename="a.jpg", capture=capture, status="done", attempts=1, result={"exposure": "bright", "width": 32}
    )
    AnalysisJob.objects.create(filename="loose.jpg", status="failed", error="loose.jpg is gone")
    page = admin_client.get("/admin/capture/analysisjob/").content.decode()
    assert str(done.job_id) in page and "loose.jpg" in page
    assert f'href="/admin/capture/capture/{capture.pk}/change/"' in page
    assert "bright" in page and "failed" in page


def test_a_job_page_shows_its_result_and_cannot_be_edited(admin_client, settings):
    job = AnalysisJob.objects.create(filename="a.jpg", status="done", result={"exposure": "dark", "sharpness": 1.5})
    page = admin_client.get(f"/admin/capture/analysisjob/{job.pk}/change/").content.decode()
    assert "&quot;exposure&quot;: &quot;dark&quot;" in page and "&quot;sharpness&quot;: 1.5" in page
    assert 'name="_save"' not in page
    assert admin_client.get("/admin/capture/analysisjob/add/").status_code == 403


def test_analyze_again_queues_a_job_for_each_capture_with_a_file(admin_client, settings):
    HUEY.flush()
    with_file = make_capture(settings, "b.jpg")
    without_file = make_capture(settings, "deleted.jpg", with_file=False)
    response = admin_client.post(
        "/admin/capture/capture/",
        {"action": "analyze_again", "_selected_action": [with_file.pk, without_file.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Queued 1 analysis" in page and "1 skipped" in page
    job = AnalysisJob.objects.get()
    assert (job.capture, job.status) == (with_file, "queued")
    assert [task.args for task in HUEY.pending() if isinstance(task, analyze_job.task_class)] == [(job.pk,)]
    HUEY.flush()
