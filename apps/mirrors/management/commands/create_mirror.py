from django.core.validators import URLValidator, ValidationError
from django.utils.text import slugify

from apps.core.actors import Actor
from apps.core.commands import TakedownCommand
from apps.core.errors import TakedownError
from apps.datasets.selectors import dataset_get
from apps.mirrors.services import mirror_create


class Command(TakedownCommand):
    help = "Create a mirror subscribed to datasets; prints its API token as the last line (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--subscribe", action="append", required=True, metavar="DATASET",
                            help="dataset the mirror holds; repeatable")
        parser.add_argument("--webhook", default="", help="URL to notify on each new blocklist version")
        parser.add_argument("--email", default="", help="contact address of the mirror's operator")

    def handle(self, *args, name, subscribe, webhook, email, **options):
        if slugify(name) != name:
            raise TakedownError(f"mirror name {name!r} must be lower-case letters, digits, '-' or '_'")
        if webhook:
            try:
                URLValidator(schemes=["http", "https"])(webhook)
            except ValidationError:
                raise TakedownError(f"--webhook {webhook!r} is not an http(s) URL") from None
        datasets = [dataset_get(name=d) for d in dict.fromkeys(subscribe)]
        created = mirror_create(name=name, datasets=datasets, webhook_url=webhook, contact_email=email,
                                actor=Actor.operator())
        self.stdout.write(f"Mirror {name} subscribed to {', '.join(d.name for d in datasets)}")
        if created.webhook_secret:
            self.stdout.write(f"Webhook signing secret: {created.webhook_secret}")
        self.stdout.write("API token (shown once, stored only as a hash):")
        self.stdout.write(created.token)
