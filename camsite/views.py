"""Site-wide views: the home page and error pages that answer JSON under /api/."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views import defaults

from capture import streams, tokens


def home(request: HttpRequest) -> HttpResponse:
    # mjpg-streamer's `/?action=stream` and `/?action=snapshot`, which camera clients default to.
    action = request.GET.get("action")
    if action == "stream":
        return streams.default_stream(request)
    if action == "snapshot":
        return streams.default_snapshot(request)
    return redirect("admin:index")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        # Not a DRF view, so no DRF auth: without a token an unknown /api path is the same 401 as a known one,
        # and what exists under /api can't be probed.
        refused = tokens.refusal(request, scope=None)
        if refused is not None:
            return refused
        return JsonResponse({"ok": False, "error": f"Not found: {request.path}"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Never a stack trace: the details are in the server log.
    if request.path.startswith("/api/"):
        return JsonResponse({"ok": False, "error": "Internal server error"}, status=500)
    return defaults.server_error(request)
