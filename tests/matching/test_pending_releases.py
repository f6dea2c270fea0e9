"""No false all-clear: a release that is not ready is never matched as if it held nothing.

Matching it on demand (the `match` command, the preview API, request_match) is refused with
what it is waiting for; a request logged meanwhile is matched against it once it is ready.
"""
import pytest
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.models import Release
from apps.datasets.services import shard_index
from apps.events.services import events_drain
from apps.matching.models import Match
from apps.matching.selectors import request_pending_releases
from apps.matching.services import request_match
from apps.removals.models import RemovalRequest, Status
from apps.removals.selectors import events_about
from apps.removals.services import request_create
from tests.support.events import run_pending
from tests.support.workers import wait_for

URL = "/api/v1/match/preview"
STILL_INDEXING = ("demo/2026-12 is still indexing ({} of 3 shards): matching it now would miss samples; wait for it "
                  "to be ready (Datasets > Releases) or run again later")


def _keys_csv(path, samples):
    path.write_text("kind,value\n" + "".join(f"key,{s.key}\n" for s in samples))
    return path


def test_the_match_command_refuses_a_release_still_indexing_and_writes_nothing(
        run_command, release, indexing_release, release_on_disk, tmp_path):
    csv_path = _keys_csv(tmp_path / "r.csv", release_on_disk.data.successful()[:2])
    out = tmp_path / "m.parquet"

    with pytest.raises(CommandError) as refused:
        run_command("match", "demo", "2026-12", str(csv_path), "--out", str(out))
    assert str(refused.value) == STILL_INDEXING.format(0)
    assert not out.exists() and not list(tmp_path.glob(".m.parquet*"))

    shard_index(shard=indexing_release.shards.order_by("name").first())  # what a worker does for one shard
    with pytest.raises(CommandError, match=r"is still indexing \(1 of 3 shards\)"):
        run_command("match", "demo", "2026-12", str(csv_path), "--out", str(out))
    assert not out.exists()

    run_pending()  # the other shards indexed and the release finalized, as the workers would
    stdout, _ = run_command("match", "demo", "2026-12", str(csv_path), "--out", str(out))
    assert "2 identifiers: 2 matches in 2 samples of demo/2026-12" in stdout and out.exists()


def test_the_match_command_refuses_a_failed_release(run_command, indexing_release, tmp_path):
    Release.objects.filter(pk=indexing_release.pk).update(status=Release.Status.FAILED,
                                                          error="00001.parquet: shard file is gone")
    csv_path = _keys_csv(tmp_path / "r.csv", [])
    with pytest.raises(CommandError) as refused:
        run_command("match", "demo", "2026-12", str(csv_path), "--out", str(tmp_path / "m.parquet"))
    assert str(refused.value).startswith(
        "demo/2026-12 failed to index (00001.parquet: shard file is gone): it has no index to match against")
    assert not (tmp_path / "m.parquet").exists()


def test_the_preview_api_answers_409_for_a_release_still_indexing(staff, release, indexing_release, release_on_disk):
    api = APIClient()
    api.force_login(staff)
    one = [{"kind": "key", "value": release_on_disk.data.successful()[0].key}]

    response = api.post(URL, {"identifiers": one, "dataset": "demo", "release": "2026-12"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": STILL_INDEXING.format(0)}
    response = api.post(f"{URL}?dataset=demo&release=2026-12", "kind,value\nkey,1\n", content_type="text/csv")
    assert (response.status_code, response.json()["detail"]) == (409, STILL_INDEXING.format(0))

    # Without a release named, the ready ones are searched and the response names the one that was not.
    body = api.post(URL, {"identifiers": one}, format="json").json()
    assert body["releases_searched"] == [{"dataset": "demo", "release": "2026-11"}]
    assert body["releases_pending"] == [{"dataset": "demo", "release": "2026-12", "status": "indexing",
                                         "state": "indexing, 0 of 3 shards"}]
    assert api.post(URL, {"identifiers": one, "dataset": "other-ds"}, format="json").status_code == 400

    schema = api.get("/api/schema/", {"format": "json"}).json()
    documented = schema["paths"][URL]["post"]["responses"]["409"]
    assert "not ready" in documented["description"]
    assert documented["content"]["application/json"]["schema"]["$ref"].endswith("/Error")

    run_pending()
    body = api.post(URL, {"identifiers": one, "dataset": "demo", "release": "2026-12"}, format="json").json()
    assert [m["release"] for m in body["matches"]] == ["2026-12"] and body["releases_pending"] == []


def test_request_match_refuses_a_release_that_is_not_ready(release, indexing_release, release_on_disk, operator):
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="key", value=sample.key)])
    with pytest.raises(TakedownError, match=r"^demo/2026-12 is still indexing \(0 of 3 shards\)"):
        request_match(request=request, releases=[release, indexing_release])
    request.refresh_from_db()
    assert request.matched_at is None and not Match.objects.exists()


def test_a_request_under_review_is_matched_against_a_release_once_it_is_ready(
        release, indexing_release, release_on_disk, operator):
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="key", value=sample.key)])
    events_drain(events_about(request=request))  # matched on arrival: only 2026-11 is ready
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert set(Match.objects.filter(request=request).values_list("release__name", flat=True)) == {"2026-11"}
    assert [str(p) for p in request_pending_releases(request=request)] == ["demo/2026-12 (indexing, 0 of 3 shards)"]

    run_pending()  # the shards indexed, the release finalized, and what release.ready sets off

    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert set(Match.objects.filter(request=request, key=sample.key).values_list("release__name", flat=True)) == {
        "2026-11", "2026-12"}
    assert request.identifiers.get().match_count == 2
    assert request_pending_releases(request=request) == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_matches_a_request_logged_while_the_release_indexes(
        start_worker, run_command, release_on_disk, tmp_path):
    run_command("import_release", "demo", "2026-12", str(release_on_disk.path), "--background")
    csv_path = _keys_csv(tmp_path / "r.csv", release_on_disk.data.successful()[:3])
    out, _ = run_command("import_removals", str(csv_path), "--dataset", "demo", "--category", "copyright")
    assert "Not yet matched against demo/2026-12 (indexing, 0 of 3 shards)" in out
    assert "match nothing" not in out
    request = RemovalRequest.objects.get()
    assert not Match.objects.exists()

    worker = start_worker("one")
    assert wait_for(lambda: Match.objects.filter(request=request, release__name="2026-12").count() == 3,
                    timeout=120, workers=[worker]), worker.output()
    assert wait_for(lambda: request_pending_releases(request=RemovalRequest.objects.get(pk=request.pk)) == [],
                    timeout=60, workers=[worker])
    assert RemovalRequest.objects.get(pk=request.pk).status == Status.RECEIVED  # matched for review, not published
