# djhuey's run_huey imports each app's `tasks` module to find its tasks: the analyzer's live in capture.analysis,
# the events' (webhooks, MQTT) in capture.events.
from capture.analysis.tasks import analyze_job, recover_jobs  # noqa: F401
from capture.events.tasks import deliver_event, recover_events, take_capture  # noqa: F401
