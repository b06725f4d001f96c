"""The task queue as the outbox sees it: a huey task "deliver row N", the sweep, and the senders.

capture.events puts each new row here after its transaction commits; the worker runs the tasks. The senders
are chosen here, so capture.events.outbox imports neither huey nor paho.
"""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task
from huey.exceptions import RetryTask

from capture.events import mqtt, outbox, webhooks
from capture.models import EventDelivery

SENDERS = {EventDelivery.Target.WEBHOOK: webhooks.send, EventDelivery.Target.MQTT: mqtt.send}


@db_task()
def deliver_event(delivery_pk: int) -> None:
    try:
        outbox.deliver(delivery_pk, SENDERS)
    except outbox.RetryLater as exc:
        # huey keeps the retry on its schedule, which survives restarts; the sweep is the safety net.
        raise RetryTask(str(exc), delay=exc.delay) from exc


@db_periodic_task(crontab(minute="*"))
def recover_events() -> None:
    outbox.recover(QUEUE)


class HueyDeliveryQueue:
    """outbox.DeliveryQueue on huey: a message is a `deliver_event(pk)` call."""

    def put(self, pk: int) -> None:
        deliver_event(pk)

    def waiting(self) -> set[int]:
        messages = HUEY.pending() + HUEY.scheduled()
        return {task.args[0] for task in messages if isinstance(task, deliver_event.task_class) and task.args}


QUEUE = HueyDeliveryQueue()
