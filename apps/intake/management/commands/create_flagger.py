from apps.core.actors import Actor
from apps.core.commands import TakedownCommand
from apps.intake.flaggers import flagger_create
from apps.intake.models import TrustedFlagger


class Command(TakedownCommand):
    help = "Register a trusted flagger (a hotline, a research group); prints its API token as the last line " \
           "(shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the organisation, e.g. 'Internet Watch Foundation'")
        parser.add_argument("--kind", required=True, choices=TrustedFlagger.Kind.values)
        parser.add_argument("--email", default="", help="contact address at the organisation")

    def handle(self, *args, name, kind, email, **options):
        flagger, token = flagger_create(name=name, kind=kind, contact_email=email, actor=Actor.operator())
        self.stdout.write(f"Trusted flagger {flagger.name} ({flagger.get_kind_display()})")
        self.stdout.write("API token (shown once, stored only as a hash):")
        self.stdout.write(token)
