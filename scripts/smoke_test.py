#!/usr/bin/env python3
"""Smoke test against a running server; needs only Python and `requests`, not Django.

    SMOKE_URL=http://camera.local SMOKE_TOKEN=... python3 scripts/smoke_test.py
    PORT=3000 python3 scripts/smoke_test.py

The steps live in capture/management/smoke.py (`manage.py smoke_test` runs the same ones).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    from capture.management.smoke import main
except ImportError as exc:  # requests is missing: say what to do instead of a traceback
    sys.exit(f"smoke_test.py needs the requests package ({exc}): pip install requests, or use manage.py smoke_test")

if __name__ == "__main__":
    sys.exit(main())
