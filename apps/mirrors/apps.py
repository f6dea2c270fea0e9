from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class MirrorsConfig(AppConfig):
    name = "apps.mirrors"
    label = "mirrors"

    def ready(self):
        from apps.core.categories import Category
        from apps.mirrors import handlers, tasks  # noqa: F401  (subscribes to events; resumes webhooks)

        unknown = sorted(set(settings.MIRROR_ACK_DEADLINES) - set(Category.values))
        if unknown:
            raise ImproperlyConfigured(
                f"MIRROR_ACK_DEADLINES names unknown categories {', '.join(unknown)} "
                f"(known: {', '.join(Category.values)})")
