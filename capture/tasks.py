# djhuey's run_huey imports each app's `tasks` module to find its tasks: they live in capture.analysis,
# capture.upload_tasks (uploads to object storage), capture.retention and capture.schedules (the schedules'
# frames and tick, and the timelapse jobs).
from capture.analysis.tasks import analyze_job, recover_jobs  # noqa: F401
from capture.retention.tasks import reconcile_uploads, retention_sweep  # noqa: F401
from capture.schedules.tasks import schedule_frame, schedule_tick, timelapse_job  # noqa: F401
from capture.upload_tasks import recover_uploads, upload_capture  # noqa: F401
