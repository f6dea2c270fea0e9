"""Base for management commands: application errors become one clear line, no traceback."""
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from apps.core.errors import TakedownError

NOT_MIGRATED = ("The database is not set up (or not up to date): run `python manage.py migrate` "
                "(or `./run`, which does it) first, then this command again.")


def _unapplied_migrations(alias: str = DEFAULT_DB_ALIAS) -> bool:
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


class TakedownCommand(BaseCommand):
    # These commands do operational work, often in scripts: `manage.py check` is where checks belong.
    requires_system_checks = []

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except TakedownError as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError:
            # A missing table or column is a database nobody migrated (a fresh DATA_DIR, or code newer than
            # the schema): say so in one line. Asked only on failure, so a working command pays nothing.
            try:
                not_migrated = _unapplied_migrations(options.get("database") or DEFAULT_DB_ALIAS)
            except DatabaseError:
                not_migrated = False
            if not_migrated:
                raise CommandError(NOT_MIGRATED) from None
            raise
