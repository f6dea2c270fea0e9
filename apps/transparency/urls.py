from django.urls import path

from apps.transparency import views

app_name = "transparency"

urlpatterns = [
    path("", views.report_page, name="report"),
    path("report.csv", views.report_csv, name="report-csv"),
]
