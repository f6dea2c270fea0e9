"""The public index of models trained on the host's releases: a page and a JSON feed. No login.

Counts only: per release, the listed models, whether removals hit their training data, how many samples, by
coarse category (csam and ncii only as "legal"), and their owners' answer. No key, no request, no advisory
document; a model whose owner opted out of the listing is only counted ("N models not listed")."""
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from apps.advisories.selectors import ANSWER_LABELS, models_by_release

FEED_VERSION = 1


def _datasets(releases) -> list[dict]:
    datasets: dict[str, list] = {}
    for release in releases:
        datasets.setdefault(release.dataset, []).append(release)
    return [{"name": name, "releases": found} for name, found in datasets.items()]


@require_safe
def index_page(request: HttpRequest) -> HttpResponse:
    releases = models_by_release()
    return render(request, "advisories/index.html", {
        "datasets": _datasets(releases), "generated_at": timezone.now(), "answers": ANSWER_LABELS,
    })


@require_safe
def index_feed(request: HttpRequest) -> JsonResponse:
    """GET /advisories/feed.json: the same as the page. Field names are stable (feed_version raises if not)."""
    releases = models_by_release()
    body = {
        "feed_version": FEED_VERSION,
        "generated_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "datasets": [{
            "dataset": dataset["name"],
            "releases": [{
                "release": release.release,
                "models_not_listed": release.not_listed,
                "models": [{
                    "name": model.name,
                    "owner": model.owner_org,
                    "hf_repo_id": model.hf_repo_id or None,
                    "base_model": model.base_model if model.base_public else None,
                    "affected": model.affected,
                    "removed_samples": model.removed_samples,
                    "removed_by_category": model.by_category,
                    "advisories": model.advisories,
                    "answer": model.answer,
                } for model in release.listed],
            } for release in dataset["releases"]],
        } for dataset in _datasets(releases)],
    }
    response = JsonResponse(body, json_dumps_params={"indent": 1})
    response["Access-Control-Allow-Origin"] = "*"
    return response
