from django.core.validators import URLValidator, ValidationError
from django.utils.text import slugify

from apps.core.actors import Actor
from apps.core.commands import TakedownCommand
from apps.core.errors import TakedownError
from apps.datasets.selectors import dataset_get, release_get
from apps.mirrors.services import mirror_create


class Command(TakedownCommand):
    help = "Create a mirror subscribed to datasets; prints its API token as the last line (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--subscribe", action="append", required=True, metavar="DATASET",
                            help="dataset the mirror holds; repeatable")
        parser.add_argument("--webhook", default="", help="URL to notify on each new blocklist version")
        parser.add_argument("--email", default="", help="contact address of the mirror's operator")
        parser.add_argument("--hold", action="append", default=[], metavar="DATASET/RELEASE",
                            help="a release it serves; repeatable (none: every release of its datasets is counted)")

    def handle(self, *args, name, subscribe, webhook, email, hold, **options):
        if slugify(name) != name:
            raise TakedownError(f"mirror name {name!r} must be lower-case letters, digits, '-' or '_'")
        if webhook:
            try:
                URLValidator(schemes=["http", "https"])(webhook)
            except ValidationError:
                raise TakedownError(f"--webhook {webhook!r} is not an http(s) URL") from None
        datasets = [dataset_get(name=d) for d in dict.fromkeys(subscribe)]
        if any("/" not in h for h in hold):
            raise TakedownError("--hold takes DATASET/RELEASE, e.g. --hold laion2b-en/2024-08")
        releases = [release_get(dataset=h.split("/", 1)[0], release=h.split("/", 1)[1]) for h in dict.fromkeys(hold)]
        created = mirror_create(name=name, datasets=datasets, webhook_url=webhook, contact_email=email,
                                releases=releases, actor=Actor.operator())
        self.stdout.write(f"Mirror {name} subscribed to {', '.join(d.name for d in datasets)}"
                          + (f", holding {', '.join(str(r) for r in releases)}" if releases else
                             " (releases held not recorded: every release of them is counted)"))
        if created.webhook_secret:
            self.stdout.write(f"Webhook signing secret: {created.webhook_secret}")
        self.stdout.write("API token (shown once, stored only as a hash):")
        self.stdout.write(created.token)
