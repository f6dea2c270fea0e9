from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from apps.blocklists import signing
from apps.core.actors import Actor
from apps.core.commands import TakedownCommand


class Command(TakedownCommand):
    help = ("Make a new Ed25519 key the one that signs blocklist manifests and retire the current one, "
            "with a rotation statement signed by the old key (docs/signing-keys.md). --list shows the keys.")

    def add_arguments(self, parser):
        parser.add_argument("--list", dest="list_keys", action="store_true",
                            help="list the keyring's keys and change nothing")
        parser.add_argument("--reason", default="", help="why, for the audit trail (e.g. 'yearly', 'compromised')")

    def handle(self, *args, list_keys, reason, **options):
        try:
            if list_keys:
                self._list()
                return
            statement = signing.signing_key_rotate(actor=Actor.operator(), reason=reason)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Retired key {statement['old_key_id']}; new manifests are signed with key "
                          f"{statement['new_key_id']}.")
        self.stdout.write(f"New key id: {statement['new_key_id']}")
        self.stdout.write(f"New public key: {statement['new_public_key']}")

    def _list(self):
        for key in signing.signing_keys_list():
            retired = f"  retired {key['retired_at']}" if key["retired_at"] else ""
            self.stdout.write(f"{key['key_id']}  {key['status']:<7}  created {key['created_at']}{retired}  "
                              f"{key['public_key']}")
