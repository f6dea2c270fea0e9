from django.core.management.base import CommandError

from apps.audit.selectors import audit_chain_verify
from apps.core.commands import TakedownCommand


class Command(TakedownCommand):
    help = ("Check the audit trail: every hash link and its MAC under the audit key, and that the database holds "
            "every event the last checkpoint outside it recorded; exit non-zero at the first problem.")

    def handle(self, *args, **options):
        result = audit_chain_verify()
        if not result.intact:
            raise CommandError(result.message)
        self.stdout.write(result.message)
