"""Reading what advisories need: which models were trained on a release, which keys a version added or removed,
and which request categories removed them."""
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, Q

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
