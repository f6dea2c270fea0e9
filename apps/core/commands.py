"""Base for management commands: application errors become one clear line, no traceback."""
from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import TakedownError


class TakedownCommand(BaseCommand):
    # These commands do operational work, often in scripts: `manage.py check` is where checks belong.
    requires_system_checks = []

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except TakedownError as exc:
            raise CommandError(str(exc)) from None
