"""The one way this project starts external processes.

Every camera, detection and ffmpeg command goes through run_command(): an argv list (never a shell), its own
process group, a timeout with signal escalation on the whole group, and truncated output in the log.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

log = logging.getLogger(__name__)

OUTPUT_TAIL_CHARS = 2000  # kept on the Capture row
LOG_TAIL_CHARS = 400  # printed to the console

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
# util-linux's setpriv sets the parent-death signal and execs the command. It is much cheaper than a
# preexec_fn, which forces a full fork() of this large process (about 8 ms) instead of vfork().
_SETPRIV = shutil.which("setpriv") if _libc is not None else None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec (only when setpriv is missing).
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _spawn_args(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The argv to exec and the preexec_fn: if our worker is killed (kill -9, OOM), the kernel kills the
    command too, instead of leaving a camera running with nobody to collect its file or free the camera."""
    if _SETPRIV:
        return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv], None
    return argv, _die_with_parent


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    ms: int
    timed_out: bool = False

    def as_record(self) -> dict:
        """The JSON form stored on the Capture row."""
        return {
            "argv": self.argv,
            "exitCode": self.returncode,
            "ms": self.ms,
            "timedOut": self.timed_out,
            "stdout": self.stdout,
            "stderr": self.stderr,
        }

    @property
    def last_error_line(self) -> str:
        """The most useful single line of stderr (rpicam apps end with `ERROR: *** ... ***`)."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        for line in reversed(lines):
            if line.startswith("ERROR") or "what():" in line:
                return line
        return lines[-1] if lines else ""


class CommandError(Exception):
    """A command could not start, failed, or timed out. `result` says what happened."""

    def __init__(self, message: str, result: CommandResult) -> None:
        super().__init__(message)
        self.result = result


class CommandFailed(CommandError):
    pass


class CommandTimeout(CommandError):
    pass


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    stop_signals: Sequence[signal.Signals] = (signal.SIGTERM,),
    kill_grace: float = 1.0,
    cwd: str | os.PathLike | None = None,
    pass_fds: Sequence[int] = (),
    on_start: Callable[[int], None] | None = None,
    keep_stdout: int = OUTPUT_TAIL_CHARS,
) -> CommandResult:
    """Run argv to completion and return its result; raise CommandFailed/CommandTimeout otherwise.

    On timeout (or if we are interrupted), each of `stop_signals` goes to the process group in turn, with
    `kill_grace` seconds to exit after each, then SIGKILL. Whatever the command forked is killed at the end
    too, so no process outlives the call. The result keeps the last `keep_stdout` characters of stdout (a
    listing or `--help` that must be read whole asks for more) and OUTPUT_TAIL_CHARS of stderr.
    """
    argv = [str(arg) for arg in argv]
    if log.isEnabledFor(logging.INFO):  # quoting every argument costs more than the check
        log.info("run: %s", shlex.join(argv))
    # Output goes to temporary files, not pipes: a forked grandchild holding a pipe open can't block us.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        try:
            proc = _popen(argv, stdout=out, stderr=err, cwd=cwd, pass_fds=pass_fds)
        except OSError as exc:
            result = CommandResult(argv, None, "", str(exc), _ms_since(started))
            log.warning("could not start %s: %s", argv[0], exc)
            raise CommandFailed(f"could not start {argv[0]}: {exc.strerror or exc}", result) from exc

        timed_out = False
        try:
            if on_start is not None:
                on_start(proc.pid)
            try:
                returncode = wait_for_exit(proc, timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                log.warning("timeout after %.1f s, stopping %s (pid %d)", timeout, argv[0], proc.pid)
                returncode = stop_process_group(proc, stop_signals, kill_grace)
        except BaseException:
            # Interrupted (Ctrl-C in the CLI, SIGTERM from systemd, a bug in on_start): stop the camera cleanly.
            stop_process_group(proc, stop_signals, kill_grace)
            raise
        finally:
            _signal_group(proc.pid, signal.SIGKILL)

        result = CommandResult(argv, returncode, _tail(out, keep_stdout), _tail(err), _ms_since(started), timed_out)

    if log.isEnabledFor(logging.INFO):
        log.info(
            "exit %s in %d ms: %s | stdout: %s | stderr: %s",
            "timeout" if timed_out else returncode,
            result.ms,
            argv[0],
            _clip(result.stdout),
            _clip(result.stderr),
        )
    if timed_out:
        raise CommandTimeout(f"{_program_name(argv)} timed out after {timeout:.1f} s", result)
    if returncode != 0:
        detail = result.last_error_line or f"exit code {returncode}"
        raise CommandFailed(f"{_program_name(argv)} failed: {detail}", result)
    return result


def _popen(argv: list[str], *, stdout, stderr, cwd, pass_fds: Sequence[int], **extra) -> subprocess.Popen:
    """Start argv in its own process group with the parent-death signal: how run_command and spawn start."""
    if not shutil.which(argv[0]):
        raise FileNotFoundError(2, "No such file or directory", argv[0])
    spawn_argv, preexec_fn = _spawn_args(argv)
    return subprocess.Popen(
        spawn_argv,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
        preexec_fn=preexec_fn,
        **extra,
    )


def stop_process_group(proc: subprocess.Popen, stop_signals: Sequence[signal.Signals], kill_grace: float) -> int:
    """Signal the group with each stop signal in turn, then SIGKILL; return the exit status."""
    for sig in stop_signals:
        _signal_group(proc.pid, sig)
        try:
            return wait_for_exit(proc, kill_grace)
        except subprocess.TimeoutExpired:
            continue
    _signal_group(proc.pid, signal.SIGKILL)
    return proc.wait()


def wait_for_exit(proc: subprocess.Popen, timeout: float) -> int:
    """proc.wait(timeout), woken the moment the process exits.

    Popen.wait(timeout) polls with sleeps of up to 50 ms, which every capture would pay on top of the
    camera's own time; a pidfd becomes readable exactly when the process exits (Linux 5.3+)."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return proc.wait(timeout=timeout)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    return proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def _program_name(argv: list[str]) -> str:
    """What to call the command in messages: the script, when the program is a Python interpreter."""
    name = os.path.basename(argv[0])
    if name.startswith("python") and len(argv) > 1 and not argv[1].startswith("-"):
        return os.path.basename(argv[1])
    return name


def _tail(stream: IO[bytes], chars: int = OUTPUT_TAIL_CHARS) -> str:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - chars))
    return stream.read().decode("utf-8", errors="replace")


def _clip(text: str) -> str:
    text = text.strip().replace("\n", " ⏎ ")
    return text if len(text) <= LOG_TAIL_CHARS else "…" + text[-LOG_TAIL_CHARS:]


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)  # rounded: truncating under-reports by 0.5 ms on average


class SpawnedProcess:
    """A long-running child started by spawn(): its own process group, a parent-death signal, stdout as a pipe
    (or not), stderr into a temporary file whose tail goes to the log when it ends."""

    def __init__(self, proc: subprocess.Popen, argv: list[str], stderr: IO[bytes]) -> None:
        self.proc = proc
        self.argv = argv
        self.pid = proc.pid
        self.stdout = proc.stdout
        self.stderr = proc.stderr  # a pipe when asked for (a warm still's progress lines), else None
        self._stderr = stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.proc.poll()
        return self.returncode

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the process itself (not its group): a still's SIGUSR1 trigger."""
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, stop_signals: Sequence[signal.Signals] = (signal.SIGTERM,), kill_grace: float = 1.0) -> int:
        """Each stop signal in turn to the group, `kill_grace` seconds apart, then SIGKILL; returns the exit
        status. Whatever the child forked dies too. Safe to call twice, and after it died by itself."""
        try:
            if self.poll() is None:
                self.returncode = stop_process_group(self.proc, stop_signals, kill_grace)
            else:
                self.returncode = self.proc.wait()
        finally:
            _signal_group(self.pid, signal.SIGKILL)
            self.close()
        return self.returncode

    def stderr_tail(self, chars: int = OUTPUT_TAIL_CHARS) -> str:
        if self._stderr.closed:
            return ""
        return _tail(self._stderr, chars)

    def close(self) -> None:
        """Close our ends (stdout pipe, stderr file); log how it ended."""
        if self._stderr.closed:
            return
        tail = _clip(self.stderr_tail())
        log.info("exit %s: %s (pid %d) | stderr: %s", self.returncode, self.argv[0], self.pid, tail)
        for pipe in (self.stdout, self.stderr):
            if pipe is not None:
                pipe.close()
        self._stderr.close()


def spawn(
    argv: Sequence[str],
    *,
    stdout_pipe: bool = True,
    stderr_pipe: bool = False,
    pass_fds: Sequence[int] = (),
    cwd: str | os.PathLike | None = None,
) -> SpawnedProcess:
    """Start a long-running command (a preview, a warm still) and return at once; stop it with .stop().

    Like run_command(): an argv list, its own process group, and a parent-death SIGKILL, so a `kill -9` of
    the caller leaves no camera process behind. The parent-death signal fires when the *thread* that
    spawned exits, so call this from a thread that lives as long as the child (the event loop's).
    Raises CommandFailed when the command can't start."""
    argv = [str(arg) for arg in argv]
    log.info("spawn: %s", shlex.join(argv))
    stderr = tempfile.TemporaryFile()
    try:
        proc = _popen(
            argv,
            stdout=subprocess.PIPE if stdout_pipe else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stderr_pipe else stderr,
            cwd=cwd,
            pass_fds=pass_fds,
            bufsize=0,
        )
    except OSError as exc:
        stderr.close()
        result = CommandResult(argv, None, "", str(exc), 0)
        raise CommandFailed(f"could not start {argv[0]}: {exc.strerror or exc}", result) from exc
    return SpawnedProcess(proc, argv, stderr)
