"""Registering models and issuing their advisories when a blocklist version removes their training samples."""
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.advisories import openvex, subsets
from apps.advisories.events import ADVISORY_ISSUED, ADVISORY_UPDATED, MODEL_REGISTERED
from apps.advisories.models import Advisory, TrainedModel, TrainingSet
from apps.advisories.selectors import (
    category_counts,
    key_categories,
    models_hits,
    models_trained_on,
    version_blocked,
    version_changes,
)
from apps.audit.services import audit_record
from apps.blocklists.models import BlocklistVersion
from apps.core import roles
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.events.services import event_record
from apps.mirrors.deadlines import deadline_seconds
from apps.mirrors.services import webhook_secret_new, webhook_url_check
from apps.tokens.services import TokenKind, token_issue_check

logger = logging.getLogger(__name__)

MODEL_TOKENS = TokenKind(name="model", prefix="td_model_")


@dataclass
class NewModel:
    model: TrainedModel
    token: str
    webhook_secret: str


def _subset_name(model: str, release: Release) -> str:
    return f"{model}-r{release.pk}.npy"


def model_register(*, name: str, trained_on: list[Release], actor: Actor, keys_file: Path | None = None,
                   base: TrainedModel | None = None, owner_org: str = "", contact_email: str = "",
                   hf_repo_id: str = "", webhook_url: str = "", public: bool = True) -> NewModel:
    """Register a model trained on releases (whole, or the one release given with a file of its sample keys)
    and/or fine-tuned from a registered base model; returns its owner's token once (stored as a hash) and, with a
    webhook, its signing secret. The subset file is stored before the rows, which commit together."""
    token_issue_check(kind=MODEL_TOKENS, actor=actor)
    trained_on = list(dict.fromkeys(trained_on))
    if not trained_on and base is None:
        raise TakedownError(f"model {name!r}: give the releases it was trained on, or its base model")
    if keys_file is not None and len(trained_on) != 1:
        raise TakedownError(f"model {name!r}: a keys file is the subset of one release; give exactly one "
                            f"--trained-on with it, not {len(trained_on)}")
    if TrainedModel.objects.filter(name=name).exists():
        raise TakedownError(f"a model named {name!r} already exists")
    if webhook_url:
        webhook_url_check(url=webhook_url)
    subset_name, subset_count = "", None
    if keys_file is not None:
        subset_name = _subset_name(name, trained_on[0])
        subset_count = subsets.subset_store(source=keys_file, name=subset_name)
    token, fields = MODEL_TOKENS.new()
    secret = webhook_secret_new() if webhook_url else ""
    try:
        with transaction.atomic():
            model = TrainedModel.objects.create(
                name=name, owner_org=owner_org, contact_email=contact_email, hf_repo_id=hf_repo_id,
                webhook_url=webhook_url, webhook_secret=secret, base_model=base, public=public, **fields)
            for release in trained_on:
                subset = release == trained_on[0] and keys_file is not None
                TrainingSet.objects.create(model=model, release=release, subset_path=subset_name if subset else "",
                                           subset_count=subset_count if subset else None)
            audit_record(actor=actor, action="model.registered", obj=model, after={
                "trained_on": [str(r) for r in trained_on], "subset_keys": subset_count,
                "base_model": base.name if base else None, "owner_org": owner_org, "webhook_url": webhook_url,
                "public": public, "token_prefix": model.token_prefix})
            event_record(MODEL_REGISTERED, key=str(model.pk), model=model.pk)
    except IntegrityError:
        raise TakedownError(f"a model named {name!r} already exists") from None
    return NewModel(model=model, token=token, webhook_secret=secret)


def model_update(*, model: TrainedModel, actor: Actor, **changes) -> TrainedModel:
    """Change a model's owner details or public listing (staff with the admin role); audited."""
    if actor.user is not None:
        roles.require_role(actor.user, roles.ADMIN, "change a registered model")
    allowed = {"owner_org", "contact_email", "hf_repo_id", "public"}
    unknown = set(changes) - allowed
    if unknown:
        raise TakedownError(f"a model's {', '.join(sorted(unknown))} cannot be changed here")
    with transaction.atomic():
        locked = TrainedModel.objects.select_for_update().get(pk=model.pk)
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(changes))
        audit_record(actor=actor, action="model.updated", obj=locked, before=before, after=changes)
    return locked


# ---------------------------------------------------------------- advisories


def _facts(advisory: Advisory) -> openvex.AdvisoryFacts:
    release, model = advisory.release, advisory.model
    return openvex.AdvisoryFacts(
        advisory_id=advisory.advisory_id, model=model.name, hf_repo_id=model.hf_repo_id,
        dataset=release.dataset.name, release=release.name, blocklist_version=advisory.blocklist.version,
        removed_count=advisory.removed_count, categories=advisory.categories, fixed_in=advisory.fixed_in,
        deadline=advisory.deadline, status=advisory.status, issued_at=advisory.created_at,
        document_version=advisory.document_version, updated_at=timezone.now().replace(microsecond=0),
        justification=advisory.answer_justification, note=advisory.answer_note,
        retrained_on=str(advisory.answer_retrained_on) if advisory.answer_retrained_on_id else "")


def _sign(advisory: Advisory) -> None:
    advisory.document, advisory.signature, advisory.key_id = openvex.advisory_sign(_facts(advisory))


def advisory_updated_record(advisory: Advisory) -> None:
    """Record, in the caller's transaction, that an advisory was re-signed (its owner is told of each version)."""
    event_record(ADVISORY_UPDATED, key=f"{advisory.pk}:v{advisory.document_version}", advisory=advisory.pk,
                 document_version=advisory.document_version)


def _raw_categories(version: BlocklistVersion) -> set[str]:
    return set(version.requests.values_list("category", flat=True))


def _hits(version: BlocklistVersion, keys: list[str]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """(the keys' hashes sorted, and per model trained on the release the mask of those it was trained on)."""
    hashes = subsets.hash_keys(keys)
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    hits = models_hits(ordered, models_trained_on(release=version.release))
    # Back to the order of `keys`: mask[i] says whether keys[i] hit.
    return order, {model_id: _unsort(mask, order) for model_id, mask in hits.items()}


def _unsort(mask: np.ndarray, order: np.ndarray) -> np.ndarray:
    back = np.empty_like(mask)
    back[order] = mask
    return back


def advisories_issue(*, version: BlocklistVersion, model_ids: set[int] | None = None) -> list[Advisory]:
    """An advisory for every model (directly, through its subset, or through its base model) trained on samples
    that a version added to its release's blocklist (only those of `model_ids` when given); decoys do not count.
    Safe to run again: a model that has its advisory for this version gets no other."""
    version = BlocklistVersion.objects.select_related("release__dataset").get(pk=version.pk)
    added, _ = version_changes(version=version)
    if not added:
        return []
    _, hits = _hits(version, added)
    if model_ids is not None:
        hits = {model_id: mask for model_id, mask in hits.items() if model_id in model_ids}
    if not hits:
        return []
    categories = key_categories(release=version.release, keys=added, version=version)
    now = timezone.now().replace(microsecond=0)
    deadline = now + timedelta(seconds=deadline_seconds(_raw_categories(version)))
    release = version.release
    issued = []
    models = TrainedModel.objects.in_bulk(list(hits))
    done = set(Advisory.objects.filter(blocklist=version).values_list("model_id", flat=True))
    for model_id, mask in sorted(hits.items()):
        if model_id in done:
            continue
        removed = [categories[key] for key, hit in zip(added, mask.tolist()) if hit]
        advisory = Advisory(model=models[model_id], release=release, blocklist=version, removed_count=len(removed),
                            categories=category_counts(removed), deadline=deadline, created_at=now,
                            fixed_in=f"{release} blocklist v{version.version}")
        _sign(advisory)
        try:
            with transaction.atomic():
                advisory.save()
                audit_record(actor=Actor.system(), action="advisory.issued", obj=advisory, after={
                    "advisory": advisory.advisory_id, "removed": advisory.removed_count,
                    "categories": advisory.categories, "deadline": deadline.isoformat(), "key_id": advisory.key_id})
                event_record(ADVISORY_ISSUED, key=f"{advisory.pk}:v{advisory.document_version}",
                             advisory=advisory.pk, document_version=advisory.document_version)
        except IntegrityError:
            continue  # another run issued it meanwhile
        issued.append(advisory)
    later_unblock = release.blocklist_versions.filter(version__gt=version.version, removed_keys__gt=0).exists()
    if issued and later_unblock:  # this ran late: a later version already un-blocked some of them
        advisories_recount(release=release)
    return issued


def advisories_catch_up(*, model: TrainedModel) -> list[Advisory]:
    """A model registered after removals from its releases were published gets the advisories it would have got
    then: one per earlier version that added samples it (or a base model) was trained on, then counted again
    against what each release's latest version still blocks. Safe to run again."""
    family, current = [], model
    while current is not None and current.pk not in family:
        family.append(current.pk)
        current = current.base_model
    releases = Release.objects.filter(training_sets__model_id__in=family).distinct().order_by("pk")
    issued = []
    for release in releases:
        here = []
        for version in release.blocklist_versions.filter(added_keys__gt=0).order_by("version"):
            here += advisories_issue(version=version, model_ids={model.pk})
        if here:
            advisories_recount(release=release)
        issued += here
    return issued


def advisories_recount(*, release: Release) -> list[Advisory]:
    """After an un-block (a reinstatement, an allow-listed sample): count again, against the keys the release's
    latest version still blocks, the samples of every advisory of the release; those whose count changed are
    re-signed with a new document version. Returns them."""
    latest = release.blocklist_versions.order_by("-version").first()
    advisories = list(Advisory.objects.filter(release=release).select_related("model", "release__dataset",
                                                                              "blocklist"))
    if latest is None or not advisories:
        return []
    blocked = version_blocked(version=latest)
    changed = []
    by_version: dict[int, list[Advisory]] = {}
    for advisory in advisories:
        by_version.setdefault(advisory.blocklist_id, []).append(advisory)
    for items in by_version.values():
        version = items[0].blocklist
        added, _ = version_changes(version=version)
        _, hits = _hits(version, added)
        still = [key for key in added if key in blocked]
        categories = key_categories(release=release, keys=still)
        for advisory in items:
            mask = hits.get(advisory.model_id)
            removed = [] if mask is None else [categories[k] for k, hit in zip(added, mask.tolist())
                                               if hit and k in blocked]
            if len(removed) == advisory.removed_count and category_counts(removed) == advisory.categories:
                continue
            with transaction.atomic():
                locked = Advisory.objects.select_for_update().select_related(
                    "model", "release__dataset", "blocklist").get(pk=advisory.pk)
                before = {"removed": locked.removed_count, "categories": locked.categories,
                          "document_version": locked.document_version}
                locked.removed_count, locked.categories = len(removed), category_counts(removed)
                locked.document_version += 1
                _sign(locked)
                locked.save()
                audit_record(actor=Actor.system(), action="advisory.resigned", obj=locked, before=before, after={
                    "removed": locked.removed_count, "categories": locked.categories,
                    "document_version": locked.document_version, "blocklist_version": latest.version})
                advisory_updated_record(locked)
            changed.append(locked)
    return changed
