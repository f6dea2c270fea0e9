from django.contrib.auth import get_user_model

from apps.core.actors import Actor
from apps.core.categories import Category
from apps.core.commands import TakedownCommand
from apps.core.errors import TakedownError
from apps.core.identifiers import read_identifiers_file
from apps.core.wording import counted
from apps.datasets.models import Release
from apps.datasets.selectors import releases_progress
from apps.events.services import events_drain
from apps.removals.models import Channel
from apps.removals.policy import identifiers_check
from apps.removals.selectors import events_about, scope_find
from apps.removals.services import Intake, request_approve, request_create


class Command(TakedownCommand):
    help = "Log a removal request from a CSV with header kind,value and print its tracking id."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with header kind,value (kinds: url, key, md5, sha1, sha256, pdq; "
                                         "domain and url_prefix for opt-outs, or with --allow-broad)")
        parser.add_argument("--category", required=True, choices=Category.values)
        parser.add_argument("--dataset", default="",
                            help="apply only to this dataset's releases (required for key identifiers: keys are "
                                 "positional, the same key names different samples in different datasets)")
        parser.add_argument("--release", default="", help="with --dataset: apply only to this release")
        parser.add_argument("--allow-broad", action="store_true",
                            help="allow domain and url_prefix identifiers in a request that is not an opt-out "
                                 "(such a request is never approved without review)")
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

    def handle(self, *args, file, category, source, reference, approve, user, pdq_threshold, dataset, release,
               allow_broad, **options):
        actor = self._actor(user)
        scope_dataset, scope_release = scope_find(dataset=dataset, release=release, fields=("--dataset", "--release"))
        parsed = read_identifiers_file(file)
        identifiers_check(identifiers=parsed, category=category, channel=Channel.CLI, dataset=scope_dataset,
                          broad_allowed=allow_broad)
        request = request_create(category=category, identifiers=parsed, actor=actor,
                                 source=source or "cli", reference=reference, pdq_threshold=pdq_threshold,
                                 intake=Intake(channel=Channel.CLI), dataset=scope_dataset, release=scope_release)
        self.stdout.write(f"Request {request.tracking_id}: {len(parsed)} identifiers, category {category}, "
                          f"due {request.due_at:%Y-%m-%d %H:%M} UTC, applies to {request.scope}")
        if approve:
            request_approve(request=request, actor=actor)
        # Matching (and with --approve publishing) follow from the request's events: run them here and report.
        drained = events_drain(events_about(request=request))
        request.refresh_from_db()
        matched = drained.of("request.matched")
        if matched:
            info = matched[-1].payload
            expanded = info["expanded"]
            # One vocabulary: a sample is a row of a release, a match an identifier hitting one (two identifiers
            # hitting the same sample are two matches of one sample), a key what a blocklist lists per sample.
            self.stdout.write(f"Matched {counted(info['samples'], 'sample')} ({counted(info['matches'], 'match')}) "
                              f"in {counted(len(info['releases']), 'release')}"
                              + (f", {expanded} of the matches through the same image elsewhere" if expanded else ""))
            # Releases still indexing (or not yet caught up) are matched when ready: no all-clear until then.
            pending = releases_progress(ids=info.get("pending", []))
            for progress in pending:
                ready = progress.release.status == Release.Status.READY
                state = "ready now, being matched" if ready else str(progress)
                self.stdout.write(f"Not yet matched against {progress.release} ({state}): "
                                  "the request is matched against it once it is ready")
            unmatched = list(request.identifiers.filter(match_count=0).order_by("line", "pk"))
            if unmatched:
                where = ("hit no ready release so far (the releases not yet matched may hold them)" if pending
                         else "match nothing yet")
                self.stdout.write(f"{len(unmatched)} identifier(s) {where}:")
                for ident in unmatched:
                    self.stdout.write(f"  line {ident.line}: {ident.kind} {ident.value}")
        for run in drained.unfinished:
            self.stderr.write(f"{request.tracking_id}: {run.handler} did not finish ({run.last_error or run.status}); "
                              "a worker retries it, and the admin shows it under Background work")
        if approve:
            self.stdout.write(f"Approved by {actor}; status {request.status}")
            versions = drained.of("blocklist.published")
            for published in versions:
                info = published.payload
                self.stdout.write(f"Published {info['dataset']}/{info['release_name']} v{info['number']}: "
                                  f"{counted(info['keys'], 'key')} blocked in {counted(info['shards'], 'shard')} "
                                  "(the whole list: every approved request's)")
            if not versions and not drained.unfinished:
                self.stdout.write("No blocklist changed: the request hits no sample yet")
        self.stdout.write(request.tracking_id)
