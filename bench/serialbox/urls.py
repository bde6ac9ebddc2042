"""SerialBox's REST API at the root: ``/allocate/<pool>/<size>/``."""

from django.urls import include, path

urlpatterns = [path("", include("serialbox.api.urls"))]
