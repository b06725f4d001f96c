from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from camsite import views
from capture.prometheus import metrics
from capture.uploads import serve_upload

urlpatterns = [
    path("api/", include("capture.api.urls")),
    re_path(r"^uploads/(?P<name>[^/]+)$", serve_upload, name="upload"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("", views.home, name="home"),
]

handler404 = views.not_found
handler500 = views.server_error
