from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "apps.datasets"
    label = "datasets"

    def ready(self):
        from apps.datasets import handlers  # noqa: F401  (subscribes to events)
