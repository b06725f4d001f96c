"""`manage.py schedule create|list|enable|disable|delete|run-now|timelapse`: schedules from the command line.

`create` takes the capture command's options (without --filename) and the timing (--every, --cron,
--daylight, ...), validated by the API's own rules; it prints the new schedule's id alone on stdout. Frames
are taken by the worker (`manage.py run_huey`, which `make run` starts); `run-now` takes one here and now.
`timelapse` queues a video of a schedule's frames, or with --foreground makes it in this process.

Exit codes: 0 ok, 2 invalid options, 3 camera busy, 1 anything else.
"""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.exceptions import APIException, ValidationError

from capture.camera.params import PARAMS_BY_NAME, parse_text
from capture.errors import CameraBusy
from capture.schedules import runner, tasks, timelapse
from capture.schedules.body import CAPTURE_FIELDS, apply_body, validated
from capture.schedules.models import Schedule, TimelapseJob

EXIT_INVALID = 2
EXIT_BUSY = 3
TIMING_OPTIONS = {
    "everySec": ("--every", int, "seconds between frames (also inside a daylight window)"),
    "cron": ("--cron", str, 'a cron expression in TIME_ZONE, e.g. "0 12 * * *"'),
    "sunriseOffsetMin": ("--sunrise-offset", int, "daylight window starts this many minutes after sunrise"),
    "sunsetOffsetMin": ("--sunset-offset", int, "daylight window ends this many minutes after sunset"),
    "startAt": ("--start", str, "no frame before (ISO 8601, e.g. 2026-06-01T06:00:00+02:00)"),
    "endAt": ("--end", str, "no frame after (ISO 8601)"),
    "count": ("--count", int, "at most this many frames"),
    "name": ("--name", str, "a label"),
}


class _NoQueue:
    def put(self, pk: int) -> None:
        pass  # --foreground: this process runs the job itself


class Command(BaseCommand):
    help = "Make, list, enable, disable, delete or run schedules, and make timelapses of their frames."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="create|list|enable|...")
        create = actions.add_parser("create", help="make a schedule; prints its id")
        for param in CAPTURE_FIELDS:
            if param.kind == "bool":
                create.add_argument(f"--{param.option}", dest=param.name, action=argparse.BooleanOptionalAction)
            else:
                create.add_argument(f"--{param.option}", dest=param.name, metavar=param.kind.upper(), help=param.help)
        for name, (option, kind, help_text) in TIMING_OPTIONS.items():
            create.add_argument(option, dest=name, type=kind, help=help_text)
        create.add_argument("--daylight", action="store_true", help="only between sunrise and sunset")
        create.add_argument("--disabled", action="store_true", help="make it disabled")
        actions.add_parser("list", help="every schedule with its next run and counters")
        for verb, help_text in (
            ("enable", "run it again from its next run"),
            ("disable", "stop taking frames"),
            ("delete", "delete it (its frames stay)"),
            ("run-now", "take one frame now, here"),
        ):
            actions.add_parser(verb, help=help_text).add_argument("id", type=int)
        lapse = actions.add_parser("timelapse", help="an MP4 of the schedule's frames; prints the job id")
        lapse.add_argument("id", type=int)
        lapse.add_argument("--fps", type=int, default=25)
        lapse.add_argument("--width", type=int, help="of the video (default: the frames')")
        lapse.add_argument("--foreground", action="store_true", help="make it in this process, not the worker")

    def handle(self, *args, **options) -> None:
        getattr(self, "_" + options["action"].replace("-", "_"))(options)

    def _create(self, options: dict) -> None:
        body = {
            param.name: parse_text(param, value) if isinstance(value, str) and param.kind != "str" else value
            for param in CAPTURE_FIELDS
            if (value := options.get(param.name)) is not None
        }
        body.update({name: options[name] for name in TIMING_OPTIONS if options.get(name) is not None})
        body.update(daylight=options["daylight"], enabled=not options["disabled"])
        try:
            schedule = apply_body(Schedule(), validated(body))
        except ValidationError as exc:
            raise CommandError(_invalid(exc.detail), returncode=EXIT_INVALID) from None
        runner.queue_if_due(schedule, tasks.FRAMES)
        self.stdout.write(str(schedule.pk))
        self.stderr.write(f"schedule #{schedule.pk}: next run {_when(schedule.next_run_at)}")

    def _list(self, options: dict) -> None:
        rows = [("id", "name", "host", "when", "capture", "enabled", "next run", "taken", "missed", "failed")]
        for schedule in Schedule.objects.all():
            timing = schedule.cron or f"every {schedule.every_sec}s" + (" daylight" if schedule.daylight else "")
            rows.append(
                (
                    str(schedule.pk),
                    schedule.name or "-",
                    schedule.host,
                    timing + (f" ({schedule.runs}/{schedule.count})" if schedule.count else ""),
                    f"{schedule.format} {schedule.width}x{schedule.height}",
                    "yes" if schedule.enabled else "no",
                    _when(schedule.next_run_at),
                    str(schedule.frames_taken),
                    str(schedule.frames_missed),
                    str(schedule.frames_failed),
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def _enable(self, options: dict) -> None:
        schedule = _get(options["id"])
        schedule.enabled = True
        schedule.next_run_at = schedule.first_run()
        schedule.save(update_fields=["enabled", "next_run_at"])
        runner.queue_if_due(schedule, tasks.FRAMES)
        self.stderr.write(f"{schedule}: enabled, next run {_when(schedule.next_run_at)}")

    def _disable(self, options: dict) -> None:
        schedule = _get(options["id"])
        Schedule.objects.filter(pk=schedule.pk).update(enabled=False, next_run_at=None)
        self.stderr.write(f"{schedule}: disabled")

    def _delete(self, options: dict) -> None:
        schedule = _get(options["id"])
        schedule.delete()
        self.stderr.write(f"deleted schedule #{options['id']} (its frames stay)")

    def _run_now(self, options: dict) -> None:
        try:
            row = runner.run_now(_get(options["id"]))
        except ValidationError as exc:
            raise CommandError(_invalid(exc.detail), returncode=EXIT_INVALID) from None
        except APIException as exc:
            raise CommandError(str(exc.detail), returncode=EXIT_BUSY if isinstance(exc, CameraBusy) else 1) from None
        self.stdout.write(str(row.path))

    def _timelapse(self, options: dict) -> None:
        schedule = _get(options["id"])
        queue = _NoQueue() if options["foreground"] else tasks.TIMELAPSES
        try:
            job = timelapse.submit(
                timelapse.frames_of(schedule), queue, fps=options["fps"], width=options["width"], schedule=schedule
            )
        except APIException as exc:
            raise CommandError(str(exc.detail), returncode=1) from None
        if not options["foreground"]:
            self.stdout.write(str(job.job_id))
            self.stderr.write(f"queued: {job.frames} frames at {job.fps} fps (the worker makes it)")
            return
        timelapse.run(job.pk)
        job.refresh_from_db()
        if job.status != TimelapseJob.Status.DONE:
            raise CommandError(job.error, returncode=1)
        self.stdout.write(str(job.result.path))


def _get(pk: int) -> Schedule:
    schedule = Schedule.objects.filter(pk=pk).first()
    if schedule is None:
        raise CommandError(f"no schedule #{pk}", returncode=1)
    return schedule


def _invalid(errors: dict) -> str:
    options = {name: f"--{param.option}" for name, param in PARAMS_BY_NAME.items()}
    options |= {name: option for name, (option, _, _) in TIMING_OPTIONS.items()} | {"daylight": "--daylight"}
    problems = [
        f"{options.get(field, field)}: {message}"
        for field, messages in errors.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]
    return "Invalid options: " + "; ".join(problems)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"
