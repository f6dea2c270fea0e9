from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; exit non-zero at the first broken link."

    def handle(self, *args, **options):
        result = audit_chain_verify()
        if result.broken_at is not None:
            raise CommandError(
                f"audit trail broken at event {result.broken_at}: {result.reason} "
                f"({result.checked} events before it are intact)"
            )
        self.stdout.write(f"audit trail intact: {result.checked} events")
