from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The `demo` command: a small working set-up for a newcomer (above every stage, as it uses them all)."""

    name = "apps.demo"
    label = "demo"
