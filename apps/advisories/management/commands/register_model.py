from pathlib import Path

from django.conf import settings
from django.core.validators import EmailValidator, URLValidator, ValidationError
from django.utils.text import slugify

from apps.advisories.cards import dataset_refs_to_releases, read_model_card, read_spdx3
from apps.advisories.models import TrainedModel
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
        parser.add_argument("--from-card", type=Path, metavar="README.md",
                            help="read datasets: and base_model: from a Hugging Face model card; datasets map to "
                                 "releases through ADVISORY_DATASET_MAP, a base_model to the registered model with "
                                 "that Hugging Face repository")
        parser.add_argument("--from-spdx", type=Path, metavar="FILE.spdx.json",
                            help="read the trainedOn datasets of the AI package named NAME (or of the only one) "
                                 "from an SPDX 3 JSON-LD document; mapped through ADVISORY_DATASET_MAP")
        parser.add_argument("--private", action="store_true",
                            help="not listed in the public index of models (it still gets its advisories)")

    def handle(self, *args, name, trained_on, keys, base, owner_org, owner_email, hf_repo, webhook, private,
               from_card, from_spdx, **options):
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
        if from_card is not None and from_spdx is not None:
            raise TakedownError("give --from-card or --from-spdx, not both")
        if from_card is not None or from_spdx is not None:
            imported, card_base = self._imported(name, from_card, from_spdx)
            trained_on = trained_on + imported
            if card_base is not None and not base:
                base = card_base.name
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

    def _imported(self, name: str, card: Path | None, spdx: Path | None) -> tuple[list[str], TrainedModel | None]:
        """The releases (DATASET/RELEASE) a model card or SPDX document maps to, and the registered base model a
        card's base_model: names; refused when it maps to nothing at all, warned of when only some map."""
        path = (card or spdx).expanduser()
        if not path.is_file():
            raise TakedownError(f"{'--from-card' if card else '--from-spdx'} {path}: no such file")
        source, base = path.name, None
        if card is not None:
            info = read_model_card(path.read_bytes(), source=source)
            refs = info.datasets
            for repo in info.base_models:
                base = TrainedModel.objects.filter(hf_repo_id__iexact=repo).first()
                if base is not None:
                    break
            if info.base_models and base is None:
                self.stdout.write(f"Warning: {source}: base_model {', '.join(info.base_models)} is not a registered "
                                  "model's Hugging Face repository; registered without a base")
        else:
            models = read_spdx3(path.read_bytes(), source=source)
            chosen = [m for m in models if m.model.name and name in (m.model.name, slugify(m.model.name))]
            if len(models) == 1:
                chosen = models
            if len(chosen) != 1:
                names = ", ".join(sorted(repr(m.model.name or m.model.spdx_id) for m in models))
                raise TakedownError(f"{source} describes {len(models)} models ({names}); none is named {name!r}: "
                                    "register one of them by its name")
            refs = [dataset.ref for dataset in chosen[0].datasets]
        releases, unmapped = dataset_refs_to_releases(refs, settings.ADVISORY_DATASET_MAP)
        if unmapped and not releases and base is None:
            raise TakedownError(f"{source}: no dataset it names is one of ours: {', '.join(unmapped)} "
                                "(map a repository to DATASET/RELEASE in ADVISORY_DATASET_MAP)")
        if unmapped:
            self.stdout.write(f"Warning: {source}: not mapped to a release, left out: {', '.join(unmapped)} "
                              "(ADVISORY_DATASET_MAP)")
        if not refs and base is None:
            raise TakedownError(f"{source}: names no dataset and no registered base model")
        return releases, base
