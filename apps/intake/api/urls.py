from django.urls import path

from apps.intake.api import views

app_name = "flagger-api"

urlpatterns = [
    path("requests", views.RequestsView.as_view(), name="requests"),
    path("requests/<str:tracking_id>", views.RequestDetailView.as_view(), name="request"),
]
