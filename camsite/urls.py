from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from camsite import views
from camsite.env import HOST_NAME
from capture import streams
from capture.prometheus import metrics
from capture.uploads import serve_host_upload, serve_upload

urlpatterns = [
    path("api/cameras/<int:index>/stream.mjpg", streams.camera_stream, name="camera-stream"),
    path("api/cameras/<int:index>/snapshot.jpg", streams.camera_snapshot, name="camera-snapshot"),
    path("api/", include("capture.api.urls")),
    # mjpg-streamer's URLs for the default camera (OctoPrint's, Moonraker's and Home Assistant's defaults).
    path("stream.mjpg", streams.default_stream, name="stream"),
    path("snapshot.jpg", streams.default_snapshot, name="snapshot"),
    re_path(r"^uploads/(?P<name>[^/]+)$", serve_upload, name="upload"),
    re_path(rf"^uploads/(?P<host>{HOST_NAME.pattern})/(?P<name>[^/]+)$", serve_host_upload, name="host-upload"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("", views.home, name="home"),
]

handler404 = views.not_found
handler500 = views.server_error
