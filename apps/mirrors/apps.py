from django.apps import AppConfig


class MirrorsConfig(AppConfig):
    name = "apps.mirrors"
    label = "mirrors"
