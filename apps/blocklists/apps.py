from django.apps import AppConfig


class BlocklistsConfig(AppConfig):
    name = "apps.blocklists"
    label = "blocklists"

    def ready(self):
        from apps.blocklists import handlers  # noqa: F401  (subscribes to events)
