# djhuey's run_huey imports each app's `tasks` module to find its tasks: the analyzer's live in capture.analysis,
# the events' (webhooks, MQTT) in capture.events.
from capture.analysis.tasks import analyze_job, recover_jobs  # noqa: F401
from capture.events.queue import deliver_event, recover_events  # noqa: F401
from capture.events.tasks import take_capture  # noqa: F401
