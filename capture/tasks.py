# djhuey's run_huey imports each app's `tasks` module to find its tasks: the analyzer's live in capture.analysis.
from capture.analysis.tasks import analyze_job, recover_jobs  # noqa: F401
