import base64
import secrets
import shutil
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from apps.accounts.services import two_factor_provision
from apps.core.actors import Actor
from apps.core.categories import Category
from apps.core.commands import TakedownCommand
from apps.core.identifiers import ParsedIdentifier
from apps.datasets import synthetic
from apps.datasets.selectors import release_samples
from apps.datasets.services import release_import
from apps.events.services import events_drain
from apps.intake.flaggers import flagger_create, flagger_rotate_token
from apps.intake.models import TrustedFlagger
from apps.mirrors.models import Mirror
from apps.mirrors.services import mirror_create, mirror_rotate_token
from apps.removals.legal import dmca_notice_record
from apps.removals.models import Channel, RemovalRequest
from apps.removals.selectors import events_about
from apps.removals.services import Intake, request_approve, request_create

DATASET, RELEASE, MIRROR, STAFF, FLAGGER = "demo", "2026-11", "demo-mirror", "staff", "Demo hotline"


class Command(TakedownCommand):
    help = (
        "Load a small demo: a generated img2dataset release, a staff user, a mirror and a trusted flagger "
        "(their credentials printed), one published removal and two waiting for review. Safe to run again."
    )

    def handle(self, *args, **options):
        actor = Actor(label="system:demo")
        demo_dir = Path(settings.DATA_DIR) / "demo"
        shards = demo_dir / f"{DATASET}-{RELEASE}"
        if not (shards / "00000.parquet").exists():
            self.stdout.write(f"Generating a synthetic img2dataset release in {shards} ...")
            shutil.rmtree(shards, ignore_errors=True)
            synthetic.write_release(shards, shards=3, samples_per_shard=20, seed=2026)
        release = release_import(dataset=DATASET, release=RELEASE, path=shards, actor=actor).release

        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username=STAFF, defaults={"is_staff": True, "is_superuser": True})
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        totp, backup_codes = two_factor_provision(user=user, actor=actor, backup_codes=3)

        mirror = Mirror.objects.filter(name=MIRROR).first()
        if mirror is None:
            token = mirror_create(name=MIRROR, datasets=[release.dataset], actor=actor).token
        else:
            token = mirror_rotate_token(mirror=mirror, actor=actor)

        flagger = TrustedFlagger.objects.filter(name=FLAGGER).first()
        if flagger is None:
            _, flagger_token = flagger_create(name=FLAGGER, kind=TrustedFlagger.Kind.HOTLINE, actor=actor)
        else:
            flagger_token = flagger_rotate_token(flagger=flagger, actor=actor)

        if not RemovalRequest.objects.exists():
            self._requests(release, actor)
            # Matched and published here, so the demo is whole before a worker starts.
            for request in RemovalRequest.objects.all():
                events_drain(events_about(request=request))

        copy = demo_dir / "mirror-copy"
        if not copy.exists():
            shutil.copytree(shards, copy)
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(self.style.SUCCESS("\nTakedown demo is ready."))
        self.stdout.write(f"  Admin:        {base}/admin/")
        self.stdout.write(f"  Staff login:  {STAFF} / {password}")
        self.stdout.write(f"  Staff 2FA:    backup codes {' '.join(backup_codes)} (each works once in the "
                          "code field), or add this to an authenticator app:")
        self.stdout.write(f"                secret {base64.b32encode(totp.bin_key).decode()}  {totp.config_url}")
        self.stdout.write(f"  Mirror token: {token}")
        self.stdout.write(f"  Report form:  {base}/report/   (public; status at {base}/report/status/)")
        self.stdout.write(f"  Transparency: {base}/transparency/")
        self.stdout.write(f"  API schema:   {base}/api/schema/")
        self.stdout.write(f"  Flagger token ({FLAGGER}): {flagger_token}")
        self.stdout.write("  Submit a hotline list over the flagger API (in another terminal):")
        self.stdout.write(f"    printf 'kind,value\\nurl,https://example.com/a.jpg\\n' | curl -sS -X POST "
                          f"-H 'Authorization: Bearer {flagger_token}' -H 'Content-Type: text/csv' --data-binary @- "
                          f"'{base}/api/v1/flagger/requests?category=csam&reference=IWF-DEMO-2"
                          "&hotline=iwf&hotline_report_id=IWF-DEMO-2'")
        self.stdout.write("  Try the mirror client on a copy of the shards (in another terminal):")
        self.stdout.write(f"    .venv/bin/python -m mirror_client sync --server {base} --token {token} "
                          f"--dataset {DATASET} --data {copy}")

    @transaction.atomic
    def _requests(self, release, actor: Actor) -> None:
        samples = [s for s in release_samples(release=release, limit=60) if s["sha256"]]
        hotline = request_create(
            category=Category.CSAM, source="hotline:IWF", reference="IWF-DEMO-1", actor=actor,
            identifiers=[ParsedIdentifier(line=2, kind="sha256", value=samples[0]["sha256"]),
                         ParsedIdentifier(line=3, kind="url", value=samples[5]["url"])],
            hotline={"hotline": "iwf", "report_id": "IWF-DEMO-1"},
        )
        request_approve(request=hotline, actor=actor)
        # From the public form: a complete DMCA notice waiting for review, and an erasure request.
        copyright = request_create(
            category=Category.COPYRIGHT, source="web form", reference="DMCA-DEMO-7", actor=actor,
            identifiers=[ParsedIdentifier(line=2, kind="url", value=samples[12]["url"]),
                         ParsedIdentifier(line=3, kind="key", value=samples[20]["key"])],
            intake=Intake(channel=Channel.WEB_FORM, requester_name="Ada Artist", requester_email="ada@example.org"),
        )
        dmca_notice_record(request=copyright, actor=actor, signature="Ada Artist",
                           copyrighted_work="The painting 'Harbour at dusk' (2021)",
                           infringing_material="Copies at the URL and sample key listed", contact="ada@example.org",
                           good_faith=True, accurate_under_penalty=True)
        request_create(
            category=Category.PRIVACY, source="web form", actor=actor,
            identifiers=[ParsedIdentifier(line=1, kind="url", value=samples[25]["url"])],
            intake=Intake(channel=Channel.WEB_FORM, requester_name="Dana Subject",
                          requester_email="dana@example.org",
                          requester_details={"relationship": "I am the person in the photo"}),
        )
