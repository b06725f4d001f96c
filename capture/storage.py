"""The upload directory (settings.MEDIA_ROOT, served at /uploads): the one module that knows its files.

Every rule about which file is what lives here: a capture is written under a hidden temporary name and
published under its public name without ever replacing another file; "a finished file" is a plain, visible,
regular file directly in the directory; thumbnails sit in a hidden subdirectory; deleting a capture removes
its file and its thumbnails, or moves them to a hidden trash (`.trash/<key>/`) they can be restored from.
/uploads, the capture service, the analyzer, the thumbnails, deletion, retention and reconcile all ask this
module rather than building paths themselves, and retention asks free_bytes() for the free space.

Nothing here imports capture.models (models import this module for Capture.delete_with_files()).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings

from capture.errors import CaptureFailed

PARTIAL_PREFIX = ".partial-"
THUMBNAIL_DIR = ".thumbnails"
TRASH_DIR = ".trash"
FILES_LOCK = ".files.lock"
THUMBNAIL_SIZES = {"small": 320, "large": 1280}  # widths: the admin list's column (at 2x), a poster frame
LOW_DISK_BYTES = 1024 * 1024  # below this, a failed capture is blamed on the full disk


class NotAFinishedFile(ValueError):
    """The name is not a finished file in the upload directory; the message says why."""


# --- Files being written ---------------------------------------------------------------------------------


def partial_path(capture_id: int, n: int, extension: str) -> Path:
    """Where a capture writes its `n`th temporary file. Hidden (a dot name), so /uploads, nginx and the
    analyzer never see a file that is still being written; numbered by capture so recovery finds them."""
    return settings.MEDIA_ROOT / f"{PARTIAL_PREFIX}{capture_id}-{n}.{extension}"


def remove_partials(capture_id: int) -> int:
    """Delete the temporary files of a capture whose process died (crash recovery); return how many."""
    removed = 0
    for partial in settings.MEDIA_ROOT.glob(f"{PARTIAL_PREFIX}{capture_id}-*"):
        partial.unlink(missing_ok=True)
        removed += 1
    return removed


def publish(temp: Path, wanted: str) -> str:
    """Give `temp` its public name in the upload directory without ever replacing an existing file.

    Tries `name.ext`, then `name_1.ext`, `name_2.ext`, ...; returns the name used. A hard link appears
    atomically and fails if the name exists, so no reader sees a partial file and no capture is lost.
    """
    directory = settings.MEDIA_ROOT
    stem, _, ext = wanted.rpartition(".")
    counter = 0
    while True:
        name = wanted if counter == 0 else f"{stem}_{counter}.{ext}"
        try:
            os.link(temp, directory / name)
        except FileExistsError:
            counter += 1
            continue
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                # File systems without hard links (FAT on a USB stick): fall back to an exclusive rename.
                if (directory / name).exists():
                    counter += 1
                    continue
                os.rename(temp, directory / name)
                return name
            raise
        temp.unlink()
        return name


# --- Finished files --------------------------------------------------------------------------------------


def check_name(name: str) -> None:
    """NotAFinishedFile unless `name` could name a finished file: a plain name (no path) that is not hidden.

    No disk access: for callers with rules of their own to apply before looking (the analyzer's suffixes).
    """
    if not name or "/" in name or "\\" in name or "\x00" in name:
        raise NotAFinishedFile(f"{name!r} is not a file name in {settings.MEDIA_URL}")
    if name.startswith("."):
        raise NotAFinishedFile(f"{name} is hidden: a file still being written, or not a capture")


def finished_file(name: str) -> Path:
    """The resolved path of the finished file `name`, or NotAFinishedFile.

    The one rule for /uploads, the analyzer and deletion: a plain name, not hidden (files being written
    are hidden `.partial-*` names, thumbnails sit in hidden `.thumbnails/`), and a regular file directly in
    the upload directory, even through a symlink (one leading out of the directory, or to a hidden file,
    is refused).
    """
    check_name(name)
    root = settings.MEDIA_ROOT.resolve()
    try:
        path = (root / name).resolve(strict=True)
    except (OSError, ValueError):
        raise NotAFinishedFile(f"No finished file {name} in {settings.MEDIA_URL}") from None
    if path.parent != root or path.name.startswith(".") or not path.is_file():
        raise NotAFinishedFile(f"No finished file {name} in {settings.MEDIA_URL}")
    return path


# --- The directory itself --------------------------------------------------------------------------------


def check_upload_dir() -> None:
    """Refuse before touching the camera when the files would have nowhere to go."""
    root = settings.MEDIA_ROOT
    if not root.is_dir():
        raise CaptureFailed(f"Upload directory {root} does not exist (was it deleted or unmounted?)")
    if not os.access(root, os.W_OK | os.X_OK):
        raise CaptureFailed(f"Upload directory {root} is not writable by this server")


def upload_dir_full() -> bool:
    """Whether the disk is (nearly) full: a camera app's own error message hides that cause."""
    try:
        return free_bytes() < LOW_DISK_BYTES
    except OSError:
        return False


def free_bytes() -> int:
    """Free space on the upload filesystem for this (unprivileged) server: what its next capture can use.
    The one place that asks the filesystem, so a test without a small filesystem can inject the answer."""
    return shutil.disk_usage(settings.MEDIA_ROOT).free


def finished_files() -> Iterator[os.DirEntry]:
    """Every finished file in the upload directory now (what /uploads would serve): reconcile's view."""
    with os.scandir(settings.MEDIA_ROOT) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue  # being written, thumbnails, the trash, the lock
            try:
                finished_file(entry.name)
            except NotAFinishedFile:
                continue
            yield entry


@contextmanager
def files_lock() -> Iterator[None]:
    """Serialises deleting (row, then files) with reconcile, so reconcile never takes a file whose row was just
    deleted for an orphan. Publishing doesn't take it (captures never wait on it): reconcile leaves new files be.
    """
    try:
        handle = open(settings.MEDIA_ROOT / FILES_LOCK, "a")  # noqa: SIM115 - closed below
    except OSError:
        yield  # no upload directory (unmounted): there are no files to keep apart
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- Thumbnails --------------------------------------------------------------------------------------------


def thumbnail_path(filename: str, size: str = "small") -> Path:
    """Where the thumbnail of `filename` is cached: in a hidden directory, so /uploads never serves it."""
    if size not in THUMBNAIL_SIZES:
        raise ValueError(f"unknown thumbnail size {size!r}")
    return settings.MEDIA_ROOT / THUMBNAIL_DIR / f"{filename}.{size}.jpg"


def failure_marker(thumbnail: Path) -> Path:
    """Beside a thumbnail ffmpeg could not make: when it failed, so it is not retried on every view."""
    return thumbnail.with_name(thumbnail.name + ".failed")


def cached_files(filename: str) -> list[Path]:
    """Every cached file of one capture (thumbnails and failure markers) that exists now."""
    paths = [thumbnail_path(filename, size) for size in THUMBNAIL_SIZES]
    return [p for path in paths for p in (path, failure_marker(path)) if p.exists()]


# --- Deletion and the trash ------------------------------------------------------------------------------


class _HasFile(Protocol):
    filename: str  # a Capture (not imported: capture.models imports this module)


class NotInTrash(LookupError):
    """The trash holds no such file (purged, or never got there); the message says which."""


@dataclass(frozen=True)
class Removed:
    """What left the upload directory for one capture: its file (0 or 1), its thumbnails, the file's bytes."""

    files: int = 0
    thumbnails: int = 0
    size_bytes: int = 0


def delete_capture_files(capture: _HasFile) -> tuple[int, int]:
    """Delete the capture's file and cached thumbnails; return (files, thumbnails) actually removed.

    A stored name that is not a plain visible name touches nothing (it could point anywhere). A name whose
    entry is not a finished file (already gone, a directory, a symlink leading out) keeps that entry: it is
    not a file this server published. What is removed is the directory entry itself, never a symlink's
    target, which may be another capture's file.
    """
    removed = remove_capture_files(capture)
    return removed.files, removed.thumbnails


def remove_capture_files(capture: _HasFile) -> Removed:
    """delete_capture_files(), also saying how many bytes the file took."""
    return _remove(capture.filename, None)


def trash_capture_files(capture: _HasFile, key: str) -> Removed:
    """Move the capture's file and cached thumbnails into `.trash/<key>/` (hidden: never served, never an
    orphan), by the same rules as delete_capture_files(). Same filesystem, so a rename: nothing is copied.
    The trash still takes disk space: retention purges it first when the free space runs short."""
    check_name(key)
    return _remove(capture.filename, trash_root() / key)


def trash_root() -> Path:
    return settings.MEDIA_ROOT / TRASH_DIR


def trash_bytes() -> int:
    """The bytes of the files waiting in the trash (what emptying it would free)."""
    root = trash_root()
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file()) if root.is_dir() else 0


def trash_keys() -> list[str]:
    """The trash's entries (one folder per deletion)."""
    root = trash_root()
    return sorted(entry.name for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []


def restore_from_trash(key: str, filename: str) -> str:
    """Put a trashed file back; return the name it got (its own, or `name_1...` if a new capture took it
    meanwhile: publishing never replaces a file). Thumbnails come back when the name did. NotInTrash if the
    file is no longer there."""
    check_name(key)
    check_name(filename)
    folder = trash_root() / key
    source = folder / filename
    if source.is_symlink() or not source.is_file():
        raise NotInTrash(f"{filename} is no longer in the trash (purged?)")
    name = publish(source, filename)
    cached = folder / THUMBNAIL_DIR
    if name == filename and cached.is_dir():
        (settings.MEDIA_ROOT / THUMBNAIL_DIR).mkdir(exist_ok=True)
        for thumbnail in cached.iterdir():
            target = settings.MEDIA_ROOT / THUMBNAIL_DIR / thumbnail.name
            if not target.exists():
                thumbnail.rename(target)
    shutil.rmtree(folder, ignore_errors=True)
    return name


def purge_trash(key: str) -> int:
    """Remove one deletion's folder from the trash for good; return the bytes it freed."""
    check_name(key)
    folder = trash_root() / key
    if not folder.is_dir():
        return 0
    size = sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() or path.is_symlink())
    shutil.rmtree(folder, ignore_errors=True)
    return size


def _remove(name: str, trash: Path | None) -> Removed:
    """Unlink (trash None) or move into `trash` the capture file `name` and its cached thumbnails."""
    try:
        check_name(name)
    except NotAFinishedFile:
        return Removed()
    entry = settings.MEDIA_ROOT / name
    try:
        finished_file(name)
    except NotAFinishedFile:
        files = size = 0
    else:
        size = 0 if entry.is_symlink() else entry.lstat().st_size
        files = _take(entry, trash and trash / name)
        size = size if files else 0
    moved = [path for path in cached_files(name) if _take(path, trash and trash / THUMBNAIL_DIR / path.name)]
    thumbnails = sum(1 for path in moved if path.suffix == ".jpg")  # failure markers aren't thumbnails
    return Removed(files, thumbnails, size)


def _take(path: Path, target: Path | None) -> int:
    try:
        if target is None:
            path.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
    except FileNotFoundError:
        return 0
    return 1
