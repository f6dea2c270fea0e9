from django.urls import path

from apps.advisories import public

app_name = "advisories"

urlpatterns = [
    path("", public.index_page, name="index"),
    path("feed.json", public.index_feed, name="feed"),
]
