from django.apps import AppConfig


class TransparencyConfig(AppConfig):
    name = "apps.transparency"
    label = "transparency"
    verbose_name = "Transparency report"
