from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from capture.api.analyze import AnalyzeViewSet
from capture.api.schedules import ScheduleViewSet, TimelapseViewSet
from capture.api.views import CamerasViewSet, CameraViewSet, CaptureViewSet, DeletionViewSet

router = SimpleRouter()
# The Node server's paths have no trailing slash (/api/camera/capture); Django's style has one. Take both.
router.trailing_slash = "/?"
router.register("camera", CameraViewSet, basename="camera")
router.register("cameras", CamerasViewSet, basename="cameras")
router.register("captures", CaptureViewSet, basename="capture")
router.register("analyze", AnalyzeViewSet, basename="analyze")
router.register("deletions", DeletionViewSet, basename="deletion")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("timelapses", TimelapseViewSet, basename="timelapse")

urlpatterns = [
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
