from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The staff console: admin pages that bring together what several stages know (a request's matches,
    blocklist versions and mirrors), and staff accounts."""

    name = "apps.console"
    label = "console"
