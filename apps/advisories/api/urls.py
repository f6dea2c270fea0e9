from django.urls import path

from apps.advisories.api import views

app_name = "model-api"

_ONE = "<slug:name>/advisories/<int:pk>"

urlpatterns = [
    path("<slug:name>/advisories", views.AdvisoriesView.as_view(), name="advisories"),
    path(_ONE, views.AdvisoryView.as_view(), name="advisory"),
    path(_ONE + "/document", views.DocumentView.as_view(), name="document"),
    path(_ONE + "/answer", views.AnswerView.as_view(), name="answer"),
]
