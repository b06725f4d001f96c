# djhuey's run_huey imports each app's `tasks` module to find its tasks: they live in capture.analysis and
# capture.retention.
from capture.analysis.tasks import analyze_job, recover_jobs  # noqa: F401
from capture.retention.tasks import reconcile_uploads, retention_sweep  # noqa: F401
