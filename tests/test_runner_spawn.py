"""capture.lib.runner.spawn(): long-running children (the preview, a warm still) and how they are stopped."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from capture.lib.runner import CommandFailed, spawn
from tests.conftest import processes_matching, python_subprocess


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_it_streams_stdout_through_a_pipe_and_runs_in_its_own_group():
    child = spawn(
        py("import os, sys; sys.stdout.write(str(os.getpgid(0))); sys.stdout.flush(); import time; time.sleep(30)")
    )
    try:
        assert int(child.stdout.read(16)) == child.pid  # the group leader: signals reach whatever it forks
        assert child.poll() is None
    finally:
        assert child.stop(stop_signals=[signal.SIGINT]) != 0


def test_stop_escalates_from_sigint_to_sigkill_for_a_child_that_ignores_both(tmp_path):
    code = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    child = spawn(py(code))
    assert child.stdout.readline() == b"ready\n"
    assert child.stop(stop_signals=[signal.SIGINT, signal.SIGTERM], kill_grace=0.2) == -signal.SIGKILL
    assert child.stop() == -signal.SIGKILL  # twice is harmless


def test_a_clean_sigint_stop_gives_exit_0():
    code = (
        "import sys, time\ntry:\n print('ready', flush=True); time.sleep(60)\nexcept KeyboardInterrupt:\n sys.exit(0)"
    )
    child = spawn(py(code))
    assert child.stdout.readline() == b"ready\n"
    assert child.stop(stop_signals=[signal.SIGINT]) == 0


def test_a_missing_program_is_a_command_failure():
    with pytest.raises(CommandFailed, match="could not start"):
        spawn(["/nonexistent/rpicam-vid", "-t", "0"])


@pytest.mark.slow
def test_the_child_dies_with_its_parent(tmp_path):
    marker = f"spawned-by-a-killed-parent-{os.getpid()}"
    parent = python_subprocess(
        "import sys, time\nfrom capture.lib.runner import spawn\n"
        f"spawn([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])\n"
        "print('spawned', flush=True); time.sleep(60)",
        stdout=__import__("subprocess").PIPE,
    )
    assert parent.stdout.readline() == b"spawned\n"
    assert processes_matching(marker)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while processes_matching(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_matching(marker) == []
