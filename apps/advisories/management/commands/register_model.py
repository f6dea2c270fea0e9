from pathlib import Path

from django.core.validators import EmailValidator, URLValidator, ValidationError
from django.utils.text import slugify

from apps.advisories.selectors import model_get
from apps.advisories.services import model_register
from apps.core.actors import Actor
from apps.core.commands import TakedownCommand
from apps.core.errors import TakedownError
from apps.datasets.selectors import release_get


class Command(TakedownCommand):
    help = ("Register a model trained on releases (whole, or one release's subset given as a file of sample keys); "
            "prints its owner's API token as the last line (shown only once).")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--trained-on", action="append", default=[], metavar="DATASET/RELEASE",
                            help="a release the model was trained on; repeatable")
        parser.add_argument("--keys", type=Path, metavar="FILE",
                            help="the sample keys it was trained on, of the one --trained-on release (parquet with "
                                 "a `key` column, or text with one key per line); none: the whole release")
        parser.add_argument("--base", default="", metavar="NAME",
                            help="the registered model it was fine-tuned from (it inherits its training data)")
        parser.add_argument("--owner-org", default="", help="the organisation that owns the model")
        parser.add_argument("--owner-email", default="", help="where its advisories are sent")
        parser.add_argument("--hf-repo", default="", metavar="OWNER/NAME", help="its Hugging Face repository")
        parser.add_argument("--webhook", default="", help="URL to notify of each advisory")
        parser.add_argument("--private", action="store_true",
                            help="not listed in the public index of models (it still gets its advisories)")

    def handle(self, *args, name, trained_on, keys, base, owner_org, owner_email, hf_repo, webhook, private,
               **options):
        if slugify(name) != name:
            raise TakedownError(f"model name {name!r} must be lower-case letters, digits, '-' or '_'")
        if webhook:
            try:
                URLValidator(schemes=["http", "https"])(webhook)
            except ValidationError:
                raise TakedownError(f"--webhook {webhook!r} is not an http(s) URL") from None
        if owner_email:
            try:
                EmailValidator()(owner_email)
            except ValidationError:
                raise TakedownError(f"--owner-email {owner_email!r} is not an email address") from None
        if hf_repo and (hf_repo.count("/") != 1 or not all(hf_repo.split("/"))):
            raise TakedownError(f"--hf-repo {hf_repo!r} must be OWNER/NAME, e.g. laion/CLIP-ViT-H-14-laion2B-s32B-b79K")
        if any("/" not in t for t in trained_on):
            raise TakedownError("--trained-on takes DATASET/RELEASE, e.g. --trained-on laion2b-en/2024-08")
        if keys is not None and len(dict.fromkeys(trained_on)) != 1:
            raise TakedownError(f"--keys is the subset of one release: give exactly one --trained-on with it "
                                f"(got {len(trained_on)}); register a model's other releases whole")
        if keys is not None and not keys.expanduser().is_file():
            raise TakedownError(f"--keys {keys}: no such file")
        releases = [release_get(dataset=t.split("/", 1)[0], release=t.split("/", 1)[1])
                    for t in dict.fromkeys(trained_on)]
        base_model = model_get(name=base) if base else None
        created = model_register(
            name=name, trained_on=releases, keys_file=keys, base=base_model, owner_org=owner_org,
            contact_email=owner_email, hf_repo_id=hf_repo, webhook_url=webhook, public=not private,
            actor=Actor.operator())
        trained = [f"{t.release} ({f'{t.subset_count:,} samples' if t.subset_path else 'whole'})"
                   for t in created.model.training_sets.select_related("release__dataset")]
        self.stdout.write(f"Model {name} registered, trained on {', '.join(trained) or 'nothing of its own'}"
                          + (f", fine-tuned from {base_model.name}" if base_model else "")
                          + ("" if not private else " (not listed publicly)"))
        if created.webhook_secret:
            self.stdout.write("Webhook signing secret, then API token (each shown once, stored only as a hash):")
            self.stdout.write(created.webhook_secret)
        else:
            self.stdout.write("API token (shown once, stored only as a hash):")
        self.stdout.write(created.token)
