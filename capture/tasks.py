# djhuey's run_huey imports each app's `tasks` module to find its tasks: the analyzer's live in capture.analysis,
# the schedules' frames and tick and the timelapse jobs in capture.schedules.
from capture.analysis.tasks import analyze_job, recover_jobs  # noqa: F401
from capture.schedules.tasks import schedule_frame, schedule_tick, timelapse_job  # noqa: F401
