from django.urls import path

from apps.intake import views

app_name = "intake"

urlpatterns = [
    path("", views.report, name="report"),
    path("status/", views.status, name="status"),
    path("status/recipients.csv", views.recipients_csv, name="recipients-csv"),
]
