# djhuey's run_huey imports each app's `tasks` module to find its tasks: the analyzer's live in capture.analysis,
# the uploads to object storage in capture.upload_tasks.
from capture.analysis.tasks import analyze_job, recover_jobs  # noqa: F401
from capture.upload_tasks import recover_uploads, upload_capture  # noqa: F401
