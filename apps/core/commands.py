"""Base for management commands: application errors become one clear line, no traceback."""
from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import TakedownError


class TakedownCommand(BaseCommand):
    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except TakedownError as exc:
            raise CommandError(str(exc)) from None
