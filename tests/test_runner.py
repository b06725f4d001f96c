from __future__ import annotations

import signal
import sys
import time

import pytest

from capture.lib.runner import CommandFailed, CommandTimeout, run_command
from tests.conftest import processes_matching


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_it_returns_exit_code_and_output_tails():
    result = run_command(py("import sys; print('out'); print('x' * 5000, file=sys.stderr)"), timeout=10)
    assert result.returncode == 0
    assert result.stdout.strip() == "out"
    assert len(result.stderr) == 2000  # only the tail is kept


def test_a_failure_raises_with_the_error_line():
    with pytest.raises(CommandFailed, match=r"ERROR: \*\*\* no cameras available \*\*\*") as caught:
        run_command(
            py("import sys; print('ERROR: *** no cameras available ***', file=sys.stderr); sys.exit(255)"), timeout=10
        )
    assert caught.value.result.returncode == 255


def test_a_python_script_is_named_by_its_file(tmp_path):
    script = tmp_path / "simcam.py"
    script.write_text("import sys; sys.exit(3)")
    with pytest.raises(CommandFailed, match=r"^simcam.py failed: exit code 3$"):
        run_command([sys.executable, str(script)], timeout=10)


def test_a_missing_program_is_a_failure_not_a_crash():
    with pytest.raises(CommandFailed, match="could not start"):
        run_command(["/nonexistent/rpicam-still"], timeout=1)


def test_a_timeout_escalates_through_the_signals(tmp_path):
    # Ignores SIGINT and SIGTERM: only the final SIGKILL ends it.
    marker = f"hung-{tmp_path.name}"
    code = f"import signal,time; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)  # {marker}"  # noqa: E501
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        run_command(py(code), timeout=0.5, stop_signals=[signal.SIGINT, signal.SIGTERM], kill_grace=0.3)
    assert time.monotonic() - started < 5
    assert caught.value.result.returncode == -signal.SIGKILL
    assert caught.value.result.timed_out
    assert processes_matching(marker) == []


def test_sigint_comes_first_so_a_recorder_can_finish_its_file(tmp_path):
    out = tmp_path / "done"
    code = f"import signal,sys,time,pathlib\ndef stop(*_): pathlib.Path({str(out)!r}).write_text('flushed'); sys.exit(0)\nsignal.signal(signal.SIGINT, stop)\ntime.sleep(60)"  # noqa: E501
    with pytest.raises(CommandTimeout):
        run_command(py(code), timeout=0.5, stop_signals=[signal.SIGINT, signal.SIGTERM], kill_grace=2)
    assert out.read_text() == "flushed"


def test_children_the_command_forked_are_killed_too(tmp_path):
    marker = f"orphan-{tmp_path.name}"
    code = f"import subprocess,sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'])"
    run_command(py(code), timeout=10)  # the parent exits at once, leaving its child behind
    time.sleep(0.2)
    assert processes_matching(marker) == []


def test_being_interrupted_stops_the_command(tmp_path):
    marker = f"interrupted-{tmp_path.name}"

    def interrupt(pid: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_command(py(f"import time; time.sleep(60)  # {marker}"), timeout=10, on_start=interrupt)
    assert processes_matching(marker) == []
