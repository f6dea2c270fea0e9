from django.apps import AppConfig


class RemovalsConfig(AppConfig):
    name = "apps.removals"
    label = "removals"
