from django.apps import AppConfig


class RemovalsConfig(AppConfig):
    name = "apps.removals"
    label = "removals"

    def ready(self):
        from apps.removals import holds

        holds.connect()
