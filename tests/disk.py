"""Captures with files of a chosen size, and a small disk for the free-space floor.

small_disk() mounts a size-limited tmpfs where the tests run as root and may mount (here), so free space is the
kernel's answer; elsewhere it injects the free space through capture.storage.free_bytes (the one function that
asks), computed as the capacity minus every byte under the upload directory, trash included.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from capture import storage
from capture.models import Capture
from tests.captures import make_row


def file_row(name: str, size: int = 1000, *, days_old: float = 0, **fields) -> Capture:
    """A finished capture whose file of `size` bytes is in the upload directory."""
    (settings.MEDIA_ROOT / name).write_bytes(b"\xff\xd8" + b"\0" * (size - 2))
    when = timezone.now() - timedelta(days=days_old)
    return make_row(filename=name, size_bytes=size, requested_at=when, **fields)


def used_bytes(root: Path) -> int:
    return sum(path.lstat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


@contextmanager
def small_disk(directory: Path, size: int, monkeypatch, *, tmpfs: bool = True) -> Iterator[str]:
    """Make `directory` (the upload dir) a filesystem of `size` bytes; yield "tmpfs" or "injected" (always
    injected with `tmpfs` false)."""
    directory.mkdir(exist_ok=True)
    mounted = (
        tmpfs
        and os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not mounted:
        monkeypatch.setattr(storage, "free_bytes", lambda: size - used_bytes(settings.MEDIA_ROOT))
    try:
        yield "tmpfs" if mounted else "injected"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(directory)], check=False)
