from django.urls import path

from apps.matching.api import views

app_name = "matching-api"

urlpatterns = [
    path("preview", views.MatchPreviewView.as_view(), name="preview"),
]
