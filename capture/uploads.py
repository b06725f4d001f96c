"""`GET /uploads/<name>`: captured files, with HTTP Range and caching headers so browsers can play and seek.

With auth on, a file needs a read token, a staff session or a signed link (capture.links), unless
UPLOADS_PUBLIC. Only finished captures are visible (capture.storage.finished_file(): names are plain, partial files are
hidden dotfiles, and a symlink that leads out of MEDIA_ROOT or to a hidden file is refused). Django has no
Range support (ticket #22479), so serve_file() does it: one range (`a-b`, `a-`, `-n`) gets a 206; several
ranges or a malformed header get the whole file (RFC 9110 lets a server ignore Range); a range past the end
gets a 416. The body is the open file itself, so gunicorn sends it with sendfile() and never reads it into
memory.
"""

from __future__ import annotations

import mimetypes
import os
import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.http import require_safe

from capture import links, offload, tokens
from capture.formats import mime_type
from capture.models import ApiToken, Capture
from capture.storage import NotAFinishedFile, check_name, finished_file

_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_UNSATISFIABLE = (-1, -1)


@require_safe
def serve_upload(request: HttpRequest, name: str) -> HttpResponse:
    refused = _refusal(request, name)
    if refused is not None:
        return refused
    return _serve(request, settings.CAMSITE_HOST, name)


@require_safe
def serve_host_upload(request: HttpRequest, host: str, name: str) -> HttpResponse:
    """`/uploads/<host>/<name>`: a file of another host of the fleet (file names are unique per host only),
    which this server has in object storage, not on its disk."""
    refused = _refusal(request, f"{host}/{name}")
    if refused is not None:
        return refused
    return _serve(request, host, name)


def _serve(request: HttpRequest, host: str, name: str) -> HttpResponse:
    try:
        if host != settings.CAMSITE_HOST:
            raise NotAFinishedFile(name)  # another host's file is never this server's file of that name
        path = finished_file(name)
    except NotAFinishedFile:
        return _from_bucket(host, name)
    accel = request.headers.get("X-Accel-Uploads")
    if accel:
        # Behind the installed nginx site (deploy/nginx/camsite.conf), which sends the file itself, with Range
        # and caching headers, from its internal location. Only after the checks above, so a forged header
        # gains nothing.
        return HttpResponse(headers={"X-Accel-Redirect": f"{accel}{path.name}", "Content-Type": _content_type(path)})
    # Files are never overwritten, but a deleted name can come back: browsers cache, then revalidate (304).
    return serve_file(request, path, cache_control="no-cache")


def _from_bucket(host: str, name: str) -> HttpResponse:
    """A redirect to a presigned URL of the file in the bucket (which answers Range itself), or 404."""
    try:
        check_name(name)
    except NotAFinishedFile:
        raise Http404("No such capture") from None
    capture = Capture.objects.on_host(host).filter(filename=name).order_by("-id").first()
    url = offload.presigned_url(capture) if capture is not None else None
    if url is None:
        raise Http404("No such capture")
    return HttpResponseRedirect(url, headers={"Cache-Control": "private, no-store"})


def _refusal(request: HttpRequest, name: str) -> HttpResponse | None:
    """None when the request may read the file: files are public (no auth, or UPLOADS_PUBLIC), or it has a
    signed link for this file, a staff session (the admin's links and previews), or a `read` token. Checked
    before the file is looked for, so that without access no name can be probed."""
    if not links.uploads_protected():
        return None
    sig = request.GET.get("sig")
    if sig is not None:
        if links.signature_opens(name, sig):
            return None
        # 403, not 401: the link is the credential, and no header would make this one work.
        return JsonResponse(
            {"ok": False, "error": "Forbidden: this link is altered, expired, or for another file"}, status=403
        )
    if request.user.is_authenticated and request.user.is_staff:
        return None
    return tokens.refusal(request, scope=ApiToken.Scope.READ.value)


def serve_file(request: HttpRequest, path: Path, *, content_type: str = "", cache_control: str) -> HttpResponse:
    """`path` with its type, ETag/Last-Modified (304, 412), and Range (206, 416); HEAD gets headers only."""
    file = path.open("rb")
    try:
        stat = os.fstat(file.fileno())  # of the file we are about to send, even if the name changes meanwhile
        size, mtime = stat.st_size, int(stat.st_mtime)
        etag = f'"{size:x}-{stat.st_mtime_ns:x}"'
        headers = {
            "ETag": etag,
            "Last-Modified": http_date(mtime),
            "Accept-Ranges": "bytes",
            "Cache-Control": cache_control,
        }
        unconditional = HttpResponse(headers=headers)
        conditional = get_conditional_response(request, etag=etag, last_modified=mtime, response=unconditional)
        if conditional is not unconditional:  # 304 Not Modified or 412 Precondition Failed
            file.close()
            return conditional

        byte_range = _requested_range(request, size, etag, mtime)
        if byte_range == _UNSATISFIABLE:
            file.close()
            return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        start, end = byte_range or (0, size - 1)
        length = end - start + 1
        headers["Content-Type"] = content_type or _content_type(path)
        headers["Content-Length"] = str(length)
        if byte_range:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        status = 206 if byte_range else 200
        if request.method == "HEAD":
            file.close()
            return HttpResponse(status=status, headers=headers)
        file.seek(start)
        response = FileResponse(_FileSlice(file, length), status=status, content_type=headers["Content-Type"])
    except BaseException:
        file.close()
        raise
    for name, value in headers.items():
        response[name] = value
    return response


def _content_type(path: Path) -> str:
    return mime_type(path.name) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _requested_range(request: HttpRequest, size: int, etag: str, mtime: int) -> tuple[int, int] | None:
    """(first, last) byte of a single satisfiable range, _UNSATISFIABLE, or None for the whole file."""
    match = _SINGLE_RANGE.fullmatch(request.headers.get("Range", "").replace(" ", ""))
    if not match or not _if_range_holds(request.headers.get("If-Range"), etag, mtime):
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None  # "bytes=-" is malformed: ignore it
        suffix = int(last)  # the final `suffix` bytes
        return (max(0, size - suffix), size - 1) if suffix and size else _UNSATISFIABLE
    start = int(first)
    if last and int(last) < start:
        return None  # malformed, so ignored (RFC 9110 section 14.2)
    if start >= size:
        return _UNSATISFIABLE
    return start, min(int(last), size - 1) if last else size - 1


def _if_range_holds(if_range: str | None, etag: str, mtime: int) -> bool:
    """If-Range: send the range only if the client's copy is still current (strong ETag or exact date)."""
    if not if_range:
        return True
    if if_range.startswith('"'):
        return if_range == etag
    return parse_http_date_safe(if_range) == mtime


class _FileSlice:
    """At most `length` bytes of an open file from its current position.

    FileResponse reads it in blocks; gunicorn's sendfile() path uses fileno() and sends Content-Length bytes
    from the file's current offset, so both paths send exactly the range.
    """

    def __init__(self, file, length: int) -> None:
        self._file = file
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._file.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
