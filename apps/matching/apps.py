from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "apps.matching"
    label = "matching"

    def ready(self):
        from apps.matching import handlers  # noqa: F401  (subscribes to events)
