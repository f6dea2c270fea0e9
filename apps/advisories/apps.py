from django.apps import AppConfig


class AdvisoriesConfig(AppConfig):
    name = "apps.advisories"
    label = "advisories"
    verbose_name = "Model advisories"

    def ready(self):
        from apps.advisories import handlers  # noqa: F401  (subscribes to events)
