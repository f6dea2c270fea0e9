"""Reading what advisories need: which models were trained on a release, which keys a version added or removed,
and which request categories removed them."""
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, Q, Sum

from apps.advisories import subsets
from apps.advisories.models import Advisory, TrainedModel, TrainingSet
from apps.blocklists.models import BlocklistVersion, DecoyKey
from apps.blocklists.selectors import (
    ADDED,
    MANIFEST,
    REMOVED,
    blocklist_entry_keys,
    blocklist_manifest_entries,
    blocklist_read,
)
from apps.core.categories import RESTRICTED_CATEGORIES, Category
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.matching.models import Match
from apps.removals.models import BLOCKING_STATUSES

LEGAL = "legal"
# Most severe first: a sample several requests removed counts once, under the first of its categories here.
COARSE_ORDER = (LEGAL, Category.PRIVACY.value, Category.COPYRIGHT.value, Category.OPT_OUT.value,
                Category.OTHER.value)


def coarse_category(category: str) -> str:
    """What a model owner or the public may see of a request's category: csam and ncii are both "legal"."""
    return LEGAL if category in RESTRICTED_CATEGORIES else category


# ---------------------------------------------------------------- models and what they were trained on


@dataclass
class TrainingData:
    """What one model was trained on in one release, its own and its base models': the whole release, or the
    union of subsets (file names under ADVISORY_SUBSETS_DIR)."""

    model_id: int
    whole: bool = False
    subsets: list[str] = field(default_factory=list)


def model_get(*, name: str) -> TrainedModel:
    found = TrainedModel.objects.filter(name=name).first()
    if found is None:
        known = ", ".join(TrainedModel.objects.order_by("name").values_list("name", flat=True)[:20]) or "none yet"
        raise TakedownError(f"no registered model named {name!r} (known: {known})")
    return found


def models_trained_on(*, release: Release) -> list[TrainingData]:
    """Every model trained on a release, directly or through its base models (a fine-tune inherits its base's
    training data), with what it was trained on there; a loop of base models is followed once."""
    bases = dict(TrainedModel.objects.values_list("pk", "base_model_id"))
    direct: dict[int, list[TrainingSet]] = {}
    for training in TrainingSet.objects.filter(release=release):
        direct.setdefault(training.model_id, []).append(training)
    found = []
    for model_id in sorted(bases):
        data, seen, current = TrainingData(model_id=model_id), set(), model_id
        while current is not None and current not in seen:
            seen.add(current)
            for training in direct.get(current, ()):
                if training.subset_path:
                    data.subsets.append(training.subset_path)
                else:
                    data.whole = True
            current = bases.get(current)
        if data.whole or data.subsets:
            found.append(data)
    return found


def training_hits(data: TrainingData, hashes: np.ndarray) -> np.ndarray:
    """Which of `hashes` (sorted uint64 key hashes) are samples the model was trained on: a bool mask."""
    if data.whole:
        return np.ones(len(hashes), dtype=bool)
    hit = np.zeros(len(hashes), dtype=bool)
    for name in data.subsets:
        hit |= subsets.subset_hits(subsets.subset_open(name), hashes)
    return hit


def models_hits(hashes: np.ndarray, trained: list[TrainingData]) -> dict[int, np.ndarray]:
    """For each model, the mask of `hashes` it was trained on, for the models that were trained on any."""
    hits = {}
    for data in trained:
        mask = training_hits(data, hashes)
        if mask.any():
            hits[data.model_id] = mask
    return hits


# ---------------------------------------------------------------- what a blocklist version changed


def _manifest(version: BlocklistVersion) -> dict:
    data = blocklist_read(version=version, name=MANIFEST)
    if hashlib.sha256(data).hexdigest() != version.manifest_sha256:
        raise TakedownError(f"{version}: stored manifest does not match its recorded digest")
    return json.loads(data)


def _decoys(release: Release, keys) -> set[str]:
    found: set[str] = set()
    keys = list(keys)
    for start in range(0, len(keys), 5000):
        found.update(DecoyKey.objects.filter(pool__release=release, drawn_in__isnull=False,
                                             key__in=keys[start:start + 5000]).values_list("key", flat=True))
    return found


def version_changes(*, version: BlocklistVersion) -> tuple[list[str], list[str]]:
    """(added, removed): the keys a version added against the one before it (every key of a release's first
    version), decoys left out, and the keys it removed; each sorted. Read from its stored, digest-checked files."""
    manifest = _manifest(version)
    added: set[str] = set()
    removed: set[str] = set()
    if manifest.get("delta") is None:
        for entry in blocklist_manifest_entries(version=version).values():
            added |= blocklist_entry_keys(version=version, entry=entry)
    else:
        for entry in manifest["delta"]["shards"]:
            for side, keys in ((ADDED, added), (REMOVED, removed)):
                if entry[f"{side}_file"]:
                    keys |= blocklist_entry_keys(version=version, entry={
                        "file": entry[f"{side}_file"], "sha256": entry[f"{side}_sha256"]})
    if version.decoys_added or version.decoy_count:
        added -= _decoys(version.release, added)
    return sorted(added), sorted(removed)


def version_blocked(*, version: BlocklistVersion) -> set[str]:
    """Every key a version lists (decoys included: a decoy is never a removed training sample of its own)."""
    blocked: set[str] = set()
    for entry in blocklist_manifest_entries(version=version).values():
        blocked |= blocklist_entry_keys(version=version, entry=entry)
    return blocked


def key_categories(*, release: Release, keys: list[str], version: BlocklistVersion | None = None) -> dict[str, str]:
    """The coarse category of each key, from the requests that block it (and, with `version`, those it
    carries); the most severe one when several do (COARSE_ORDER). A key no request names counts as other."""
    rank = {name: i for i, name in enumerate(COARSE_ORDER)}
    blocking = Q(request__status__in=BLOCKING_STATUSES)
    if version is not None:
        blocking |= Q(request__in=version.requests.values("pk"))
    found: dict[str, str] = {}
    for start in range(0, len(keys), 5000):
        rows = (Match.objects.filter(blocking, release=release, key__in=keys[start:start + 5000])
                .values_list("key", "request__category").distinct().order_by())
        for key, category in rows:
            coarse = coarse_category(category)
            if key not in found or rank.get(coarse, len(rank)) < rank.get(found[key], len(rank)):
                found[key] = coarse
    return {key: found.get(key, Category.OTHER.value) for key in keys}


def category_counts(categories: list[str]) -> dict[str, int]:
    """Samples by coarse category, most severe first."""
    counted = Counter(categories)
    return {name: counted[name] for name in COARSE_ORDER if counted[name]}


# ---------------------------------------------------------------- advisories


def advisories_list(*, model: TrainedModel | None = None):
    """Advisories, newest first, with what listing them needs."""
    found = Advisory.objects.select_related("model", "release__dataset", "blocklist")
    if model is not None:
        found = found.filter(model=model)
    return found.order_by("-created_at", "-id")


def models_with_counts():
    """Registered models with their advisories counted (all, and those still affected)."""
    return TrainedModel.objects.annotate(
        advisory_count=Count("advisories", distinct=True),
        affected_count=Count("advisories", filter=Q(advisories__status=Advisory.Status.AFFECTED), distinct=True))


# ---------------------------------------------------------------- the index of models by release (public, console)

# What an owner's answers come to, for a model on one release (the index shows one word per model and release).
NOT_AFFECTED_YET = "not_affected_yet"  # no advisory removed any of its samples there
UNANSWERED = "unanswered"  # at least one advisory there is still `affected`


@dataclass
class IndexModel:
    """One model trained on one release, as the indexes show it: counts only, never a key."""

    name: str
    model_id: int
    owner_org: str
    hf_repo_id: str
    public: bool
    base_model: str | None
    base_public: bool = True  # whether the base model is listed (a private base is not named in public)
    advisories: int = 0
    removed_samples: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    # NOT_AFFECTED_YET, UNANSWERED, or the latest answer (an Advisory.Status other than affected)
    answer: str = NOT_AFFECTED_YET

    @property
    def affected(self) -> bool:
        return self.removed_samples > 0

    @property
    def answer_label(self) -> str:
        return ANSWER_LABELS.get(self.answer, self.answer)


ANSWER_LABELS = {NOT_AFFECTED_YET: "No removals yet", UNANSWERED: "Not answered yet",
                 **{status.value: status.label for status in Advisory.Status if status != Advisory.Status.AFFECTED}}


@dataclass
class IndexRelease:
    """One release and the models trained on it (directly, through a subset, or through a base model)."""

    dataset: str
    release: str
    release_id: int
    models: list[IndexModel] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.release}"

    @property
    def listed(self) -> list[IndexModel]:
        return [m for m in self.models if m.public]

    @property
    def not_listed(self) -> int:
        return sum(1 for m in self.models if not m.public)

    @property
    def affected_count(self) -> int:
        return sum(1 for m in self.models if m.affected)


def models_by_release() -> list[IndexRelease]:
    """Every release some registered model was trained on (its own training sets, a base model's, or an advisory
    there), with each such model's advisories summed: samples removed, by coarse category, and its answer state.
    A handful of aggregate queries whatever the number of advisories; ordered by dataset, release, model."""
    models = {row["pk"]: row for row in TrainedModel.objects.values(
        "pk", "name", "owner_org", "hf_repo_id", "public", "base_model_id", "base_model__name",
        "base_model__public")}
    direct: dict[int, set[int]] = {}  # model -> releases it was trained on itself
    for model_id, release_id in TrainingSet.objects.order_by().values_list("model_id", "release_id"):
        direct.setdefault(model_id, set()).add(release_id)
    pairs: set[tuple[int, int]] = set()
    for model_id in models:
        seen, current = set(), model_id
        while current is not None and current not in seen:  # a fine-tune inherits its base's releases
            seen.add(current)
            pairs |= {(release_id, model_id) for release_id in direct.get(current, ())}
            current = models[current]["base_model_id"] if current in models else None
    sums = {(row["release_id"], row["model_id"]): row for row in (
        Advisory.objects.order_by().values("release_id", "model_id")
        .annotate(n=Count("id"), removed=Sum("removed_count"),
                  unanswered=Count("id", filter=Q(status=Advisory.Status.AFFECTED, removed_count__gt=0))))}
    pairs |= set(sums)
    categories: dict[tuple[int, int], Counter] = {}
    latest: dict[tuple[int, int], str] = {}
    for release_id, model_id, found, status in (Advisory.objects.order_by("created_at", "id")
                                                .values_list("release_id", "model_id", "categories", "status")):
        counted = categories.setdefault((release_id, model_id), Counter())
        for name, count in (found or {}).items():
            counted[coarse_category(name)] += int(count)
        if status != Advisory.Status.AFFECTED:
            latest[(release_id, model_id)] = status
    releases = {r.pk: r for r in Release.objects.filter(pk__in={r for r, _ in pairs}).select_related("dataset")}
    index: dict[int, IndexRelease] = {}
    for release_id, model_id in pairs:
        release, row = releases[release_id], models[model_id]
        entry = index.setdefault(release_id, IndexRelease(
            dataset=release.dataset.name, release=release.name, release_id=release_id))
        summed = sums.get((release_id, model_id))
        model = IndexModel(name=row["name"], model_id=model_id, owner_org=row["owner_org"],
                           hf_repo_id=row["hf_repo_id"], public=row["public"], base_model=row["base_model__name"],
                           base_public=row["base_model__public"] is not False)
        if summed:
            model.advisories, model.removed_samples = summed["n"], summed["removed"] or 0
            counted = categories.get((release_id, model_id), Counter())
            model.by_category = {name: counted[name] for name in COARSE_ORDER if counted[name]}
            if summed["unanswered"]:
                model.answer = UNANSWERED
            elif (release_id, model_id) in latest:
                model.answer = latest[(release_id, model_id)]
        entry.models.append(model)
    for entry in index.values():
        entry.models.sort(key=lambda m: m.name)
    return sorted(index.values(), key=lambda e: (e.dataset, e.release))


def advisories_per_period(*, start, end) -> tuple[int, int]:
    """(models notified, models answered) in [start, end): distinct models with an advisory created in the period,
    and of those, the models that answered every advisory of the period (a status other than affected)."""
    created = Advisory.objects.filter(created_at__gte=start, created_at__lt=end).order_by()
    notified = created.values("model_id").distinct().count()
    unanswered = created.filter(status=Advisory.Status.AFFECTED).values("model_id").distinct().count()
    return notified, notified - unanswered
