# djhuey's run_huey imports each app's `tasks` module to find its tasks: they live in capture.analysis,
# capture.upload_tasks (uploads to object storage), capture.retention, capture.schedules (the schedules'
# frames and tick, and the timelapse jobs) and capture.events (webhooks, MQTT).
from huey.contrib.djhuey import HUEY

from capture import worker_idle
from capture.analysis.tasks import analyze_job, recover_jobs  # noqa: F401
from capture.events.queue import deliver_event, recover_events  # noqa: F401
from capture.events.tasks import take_capture  # noqa: F401
from capture.retention.tasks import reconcile_uploads, retention_sweep  # noqa: F401
from capture.schedules.tasks import schedule_frame, schedule_tick, timelapse_job  # noqa: F401
from capture.upload_tasks import recover_uploads, upload_capture  # noqa: F401


@HUEY.on_startup()
def worker_on_demand() -> None:
    worker_idle.start_in_worker(HUEY)
