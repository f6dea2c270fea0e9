from django.urls import path

from apps.mirrors.api import views

app_name = "mirror-api"

_VERSION = "blocklists/<slug:dataset>/<str:release>/<int:version>/"

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("feed", views.FeedView.as_view(), name="feed"),
    path("datasets/<slug:dataset>/releases", views.ReleasesView.as_view(), name="releases"),
    path("blocklists/<slug:dataset>/<str:release>/", views.VersionsView.as_view(), name="versions"),
    path(_VERSION + "manifest.json", views.ManifestView.as_view(), name="manifest"),
    path(_VERSION + "manifest.json.sig", views.SignatureView.as_view(), name="signature"),
    path(_VERSION + "files/<str:file>", views.FileView.as_view(), name="file"),
    path("acks", views.AckView.as_view(), name="acks"),
]
