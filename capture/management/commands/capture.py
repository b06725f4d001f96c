"""`manage.py capture`: take one capture from the command line, through the same service and lock as the API.

Exit codes: 0 ok, 2 invalid options, 3 camera busy, 4 timeout, 130 interrupted (Ctrl-C or SIGTERM),
1 anything else. `--json` prints exactly the API's JSON (success and errors); messages go to stderr.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat
from rest_framework.exceptions import APIException, ValidationError

from capture.api.errors import exception_handler
from capture.camera.params import PARAMS, PARAMS_BY_NAME, parse_capture_request, parse_text
from capture.camera.service import CaptureService, captured
from capture.errors import CameraBusy, CaptureInterrupted, CaptureTimeout
from capture.management.console import api_json, server_logs_only_when_verbose
from capture.models import Capture

EXIT_INVALID = 2
EXIT_BUSY = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130
# Shorter captures finish before a progress display would tell anyone anything.
PROGRESS_MIN_SEC = 2.0

# The API body's fields (capture.camera.params) and the options that give them: `--duration`, `--shutter-us`.
FIELD_OPTIONS = {param.name: param.option for param in PARAMS}


class Command(BaseCommand):
    help = "Take a photo or a video with the camera (same options, rules and lock as POST /api/camera/capture)."

    def add_arguments(self, parser: CommandParser) -> None:
        # Values stay text: the API's own validation reads them exactly as it reads the API's body.
        defaults = {
            "width": settings.DEFAULT_WIDTH,
            "height": settings.DEFAULT_HEIGHT,
            "fps": settings.DEFAULT_FPS,
            "camera": settings.CAMERA_INDEX,
        }
        for param in PARAMS:
            help_text = param.help
            if param.name in defaults:
                help_text += f" (default {defaults[param.name]})"
            elif param.name == "durationSec":
                help_text += (
                    f" (default {settings.DEFAULT_STILL_DURATION_SEC:g} for jpg, "
                    f"{settings.DEFAULT_VIDEO_DURATION_SEC:g} for video)"
                )
            if param.kind == "choice":
                help_text += f": {', '.join(str(choice) for choice in param.choices)}"
            elif param.kind == "floats":
                help_text += f", comma-separated ({param.length} numbers)"
            if param.kind == "bool":
                parser.add_argument(
                    f"--{param.option}", dest=param.option, action=argparse.BooleanOptionalAction, help=help_text
                )
            else:
                parser.add_argument(f"--{param.option}", dest=param.option, metavar=param.kind.upper(), help=help_text)
        parser.add_argument(
            "--analyze", action="store_true", help="then send the capture to ANALYZE_URL, like capture-and-analyze"
        )
        parser.add_argument(
            "--base-url",
            default=f"http://127.0.0.1:{settings.PORT}",
            help="with --analyze: where the analyzer can fetch /uploads/<file> (default http://127.0.0.1:$PORT)",
        )
        parser.add_argument("--json", action="store_true", help="print the API's JSON answer instead of a line")

    def handle(self, *args, **options) -> None:
        body = {
            name: _option_value(PARAMS_BY_NAME[name], options[option])
            for name, option in FIELD_OPTIONS.items()
            if options[option] is not None
        }
        try:
            # Validation meets the camera (its listing, its backend): their info lines are the server's too.
            with server_logs_only_when_verbose(options["verbosity"]):
                request = parse_capture_request(body)
        except ValidationError as exc:
            raise self._failure(exc, options, _invalid_options_message(exc.detail), EXIT_INVALID) from None
        service = CaptureService()

        try:
            with (
                _interrupt_on_signals(),
                server_logs_only_when_verbose(options["verbosity"]),
                self._progress(request.format, request.duration_sec, options),
            ):
                row = service.capture(request, Capture.Source.CLI)
            answer = captured(row)
            if options["analyze"]:
                # As in the API, the analyzer is called after the camera is released.
                job_id = service.forward_to_analyzer(row, options["base_url"].rstrip("/") + answer["url"])
                answer = {**answer, "jobId": job_id, "status": "queued"}
        except KeyboardInterrupt:
            # The runner stopped the camera, the service marked the row and removed partial files.
            raise self._failure(CaptureInterrupted(), options, "Capture interrupted", EXIT_INTERRUPTED) from None
        except APIException as exc:
            code = EXIT_BUSY if isinstance(exc, CameraBusy) else EXIT_TIMEOUT if isinstance(exc, CaptureTimeout) else 1
            message = str(exc.detail)
            kept = getattr(exc, "capture", None)
            if kept is not None and kept.filename:
                message += f" (the capture was kept: {kept.path})"  # the analyzer failed, not the camera
            raise self._failure(exc, options, message, code) from None

        if options["json"]:
            self.stdout.write(api_json(answer))
        else:
            line = f"{row.path} ({filesizeformat(row.size_bytes).replace(chr(160), ' ')}, {row.total_ms} ms)"
            if options["analyze"]:
                line += f", analyzer job {answer['jobId']}"
            self.stdout.write(line)

    def _failure(self, exc: APIException, options: dict, message: str, code: int) -> CommandError:
        """Print the API's error JSON if asked for, and return the CommandError carrying the exit code."""
        if options["json"]:
            self.stdout.write(api_json(exception_handler(exc, {}).data))
        return CommandError(message, returncode=code)

    def _progress(self, fmt: str, seconds: float, options: dict) -> Progress:
        enabled = seconds > PROGRESS_MIN_SEC and options["verbosity"] > 0

        def write(text: str) -> None:
            # Unstyled: Django would colour everything on stderr as an error.
            self.stderr.write(text, style_func=lambda text: text, ending="")
            self.stderr.flush()

        return Progress(write, f"{fmt} {seconds:g} s", seconds, tty=self.stderr.isatty(), enabled=enabled)


class Progress:
    """How far a capture has got, from a thread ticking on stderr: a bar on a terminal, plain lines otherwise."""

    BAR_WIDTH = 30

    def __init__(
        self, write: Callable[[str], None], label: str, seconds: float, *, tty: bool, enabled: bool = True
    ) -> None:
        self.write = write
        self.label = label
        self.seconds = seconds
        self.tty = tty
        self.enabled = enabled
        # A log (cron, journald) gets about ten lines however long the capture is.
        self.interval = 0.2 if tty else max(2.0, seconds / 10)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture-progress", daemon=True)

    def __enter__(self) -> Progress:
        if self.enabled:
            if not self.tty:
                self.write(f"capturing {self.label}…\n")
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.enabled:
            self._done.set()
            self._thread.join()
            if self.tty:
                self.write("\r\033[K")  # leave the terminal line clean for the result

    def _run(self) -> None:
        started = time.monotonic()
        while not self._done.wait(self.interval):
            self.write(self.render(time.monotonic() - started))

    def render(self, elapsed: float) -> str:
        # Past `seconds` the camera is closing its file (or ffmpeg remuxing): say so rather than overflow.
        shown = f"{min(elapsed, self.seconds):.1f}/{self.seconds:g} s" if elapsed < self.seconds else "finishing"
        if not self.tty:
            return f"capturing {self.label}: {shown}\n"
        filled = min(self.BAR_WIDTH, int(self.BAR_WIDTH * elapsed / self.seconds))
        return f"\r{self.label} [{'#' * filled}{'-' * (self.BAR_WIDTH - filled)}] {shown}\033[K"


@contextmanager
def _interrupt_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread, once.

    The runner then stops the camera's process group, the service marks the row `interrupted` and removes the
    partial files, and the lock is released. Further signals are ignored until then, so a second Ctrl-C (or
    systemd's repeated SIGTERM) cannot cut that clean-up short.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (e.g. a task worker calling this command)
        return

    def interrupt(signum, frame):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _option_value(param, value):
    return parse_text(param, value) if isinstance(value, str) else value


def _invalid_options_message(errors: dict) -> str:
    problems = [
        f"--{FIELD_OPTIONS.get(field, field)}: {message}"
        for field, messages in errors.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]
    return "Invalid options: " + "; ".join(problems)
