"""Figures the reliability suite measured, gathered into test-artifacts/reliability.json.

The README's Reliability table is copied from that file after a run of `make test`.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability.json"
_guard = threading.Lock()


def record(section: str, name: str, value) -> None:
    """Store one measured figure (merging with what earlier tests of this run stored).

    pytest-xdist workers record into the same file: an flock beside it serialises the read-merge-write
    across processes, and the new file replaces the old in one rename, so a reader never sees half of it."""
    ARTIFACT.parent.mkdir(exist_ok=True)
    with _guard, (ARTIFACT.parent / "reliability.json.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        figures = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
        figures.setdefault(section, {})[name] = value
        partial = ARTIFACT.with_name(f"{ARTIFACT.name}.{os.getpid()}")
        partial.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        os.replace(partial, ARTIFACT)
