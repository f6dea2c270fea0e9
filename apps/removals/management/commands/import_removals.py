from django.contrib.auth import get_user_model

from apps.core.actors import Actor
from apps.core.commands import TakedownCommand
from apps.core.errors import TakedownError
from apps.matching.services import request_match
from apps.removals.models import Category, Channel
from apps.removals.parsing import read_identifiers_file
from apps.removals.services import Intake, request_approve, request_create, request_publish


class Command(TakedownCommand):
    help = "Log a removal request from a CSV with header kind,value and print its tracking id."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with header kind,value (kinds: url, key, md5, sha1, sha256, pdq)")
        parser.add_argument("--category", required=True, choices=Category.values)
        parser.add_argument("--source", default="", help="channel or organisation, e.g. IWF")
        parser.add_argument("--reference", default="", help="the requester's own reference")
        parser.add_argument("--approve", action="store_true",
                            help="approve as the operator and wait until the blocklists are published")
        parser.add_argument("--user", help="staff username to act as (default: your OS login)")
        parser.add_argument("--pdq-threshold", type=int, default=None,
                            help="PDQ Hamming distance for this request (default: PDQ_MATCH_THRESHOLD, 31)")

    def _actor(self, username: str | None) -> Actor:
        if not username:
            return Actor.operator()
        user = get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
        if user is None:
            raise TakedownError(f"--user {username!r}: no active staff user with that name")
        return Actor.for_user(user)

    def handle(self, *args, file, category, source, reference, approve, user, pdq_threshold, **options):
        actor = self._actor(user)
        parsed = read_identifiers_file(file)
        request = request_create(category=category, identifiers=parsed, actor=actor,
                                 source=source or "cli", reference=reference, pdq_threshold=pdq_threshold,
                                 intake=Intake(channel=Channel.CLI))
        try:
            summary = request_match(request=request)
        except TakedownError as exc:
            raise TakedownError(f"{request.tracking_id} is logged but could not be matched: {exc.message}. "
                                "It is matched again when you open it in the admin and approve it.") from None
        expanded = request.matches.filter(expanded=True).count()
        self.stdout.write(
            f"Request {request.tracking_id}: {len(parsed)} identifiers, category {category}, "
            f"due {request.due_at:%Y-%m-%d %H:%M} UTC"
        )
        self.stdout.write(
            f"Matched {summary.matches} samples in {len(summary.releases)} release(s)"
            + (f", {expanded} of them through the same image elsewhere" if expanded else "")
        )
        if summary.unmatched:
            self.stdout.write(f"{len(summary.unmatched)} identifier(s) match nothing yet:")
            for ident in summary.unmatched:
                self.stdout.write(f"  line {ident.line}: {ident.kind} {ident.value}")
        if approve:
            request_approve(request=request, actor=actor)
            try:
                versions = request_publish(request=request, actor=actor)
            except Exception as exc:
                raise TakedownError(
                    f"{request.tracking_id} is approved but publishing failed: {exc}. "
                    "A worker retries it; check the admin."
                ) from None
            request.refresh_from_db()
            self.stdout.write(f"Approved by {actor}; status {request.status}")
            for version in versions:
                self.stdout.write(f"Published {version}: {version.key_count} keys in {version.shard_count} shards")
            if not versions:
                self.stdout.write("No blocklist changed: the request hits no sample yet")
        self.stdout.write(request.tracking_id)
