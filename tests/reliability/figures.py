"""Figures the reliability suite measured, gathered into test-artifacts/reliability.json.

The README's Reliability table is copied from that file after a run of `make test`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability.json"
_guard = threading.Lock()


def record(section: str, name: str, value) -> None:
    """Store one measured figure (merging with what earlier tests of this run stored)."""
    with _guard:
        ARTIFACT.parent.mkdir(exist_ok=True)
        figures = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
        figures.setdefault(section, {})[name] = value
        ARTIFACT.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
