from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from camsite import views
from camsite.env import HOST_NAME
from capture.uploads import serve_host_upload, serve_upload

urlpatterns = [
    path("api/", include("capture.api.urls")),
    re_path(r"^uploads/(?P<name>[^/]+)$", serve_upload, name="upload"),
    re_path(rf"^uploads/(?P<host>{HOST_NAME.pattern})/(?P<name>[^/]+)$", serve_host_upload, name="host-upload"),
    path("admin/", admin.site.urls),
    path("", views.home, name="home"),
]

handler404 = views.not_found
handler500 = views.server_error
