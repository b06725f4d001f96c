"""`GET /uploads/<name>`: captured files, as the Node server served them statically.

Only finished captures are visible: names are plain (no paths), partial files are hidden dotfiles, and a
symlink that leads out of MEDIA_ROOT is refused.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".mp4": "video/mp4", ".h264": "video/h264"}


@require_safe
def serve_upload(request: HttpRequest, name: str) -> HttpResponse:
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\x00" in name:
        raise Http404("No such capture")
    root = settings.MEDIA_ROOT.resolve()
    try:
        path = (root / name).resolve(strict=True)
    except (OSError, ValueError):
        raise Http404("No such capture") from None
    if path.parent != root or not path.is_file():
        raise Http404("No such capture")
    content_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(name)[0]
    content_type = content_type or "application/octet-stream"
    if request.method == "HEAD":
        # Headers only: a WSGI server must not be handed body bytes for HEAD.
        response = HttpResponse(content_type=content_type)
        response["Content-Length"] = str(path.stat().st_size)
        return response
    return FileResponse(path.open("rb"), content_type=content_type)
