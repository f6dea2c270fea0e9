"""A release's shard heat map: removed samples per shard, counted as its blocklists count them."""
import re
from collections import defaultdict

import pytest

from apps.console.overview import release_heatmap
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.selectors import release_samples
from apps.matching.services import allow_list_add
from apps.removals.services import request_approve, request_create
from tests.support.removals import publish

pytestmark = pytest.mark.django_db


def _keys_by_shard(release) -> dict[str, list[str]]:
    found = defaultdict(list)
    for sample in release_samples(release=release, limit=60):
        found[sample["shard"]].append(sample["key"])
    return found


def _removal(operator, keys, category="copyright", approve=True):
    request = request_create(category=category, actor=operator,
                             identifiers=[ParsedIdentifier(i, "key", k) for i, k in enumerate(keys, 2)])
    if approve:
        request_approve(request=request, actor=operator)
        publish(request)
    return request


@pytest.fixture
def removed(release, operator):
    """Shard 0: two samples removed (one of them by two requests); shard 1: one removed, then allow-listed;
    shard 2: one named by a request nobody approved."""
    shards = _keys_by_shard(release)
    first, second, third = sorted(shards)
    _removal(operator, [shards[first][0], shards[first][1], shards[second][0]])
    _removal(operator, [shards[first][0]], category="csam")
    _removal(operator, [shards[third][0]], approve=False)
    allow_list_add(actor=operator, reason="a false positive", release=release, key=shards[second][0])
    return first, second, third


def test_it_counts_removed_samples_per_shard(release, removed):
    first, second, third = removed

    heat = release_heatmap(release=release)

    by_shard = {cell.label: cell.removed for cell in heat.cells}
    assert by_shard == {first: 2, second: 0, third: 0}
    assert (heat.removed, heat.shards, heat.shards_hit, heat.shards_per_cell) == (2, 3, 1, 1)
    assert [c.samples for c in heat.cells] == list(release.shards.order_by("name").values_list("sample_count",
                                                                                                flat=True))


def test_a_release_with_many_shards_gets_a_cell_per_run_of_shards(release, removed):
    first, second, third = removed

    heat = release_heatmap(release=release, max_cells=2)

    assert [(c.label, c.removed) for c in heat.cells] == [(f"{first}–{second}", 2), (third, 0)]
    assert heat.shards_per_cell == 2


def test_the_page_draws_a_cell_per_shard_titled_with_its_count(client, release, removed, staff_with):
    first, second, _ = removed
    client.force_login(staff_with("rita", "reviewer"))

    response = client.get(f"/admin/datasets/release/{release.pk}/heatmap/")

    assert response.status_code == 200
    body = response.content.decode()
    samples = release.shards.get(name=first).sample_count
    assert re.search(rf'data-shard="{first}" data-removed="2"><title>{first}: 2 removed of {samples} samples</title>',
                     body)
    assert f'data-shard="{second}" data-removed="0"' in body
    assert 'role="img"' in body and "<title id=\"heatmap-title\">Removed samples per shard of demo/2026-11" in body
    assert "2 samples removed in 1 of\n3 shards" in body
    assert re.search(rf"<tr><td>{first}</td><td>2</td>", body)  # the table beside it


def test_the_release_page_and_the_overview_link_to_it(client, release, staff_with):
    client.force_login(staff_with("ivo", "intake"))
    url = f"/admin/datasets/release/{release.pk}/heatmap/"

    assert f'href="{url}"' in client.get(f"/admin/datasets/release/{release.pk}/change/").content.decode()
    assert f'href="{url}"' in client.get("/admin/datasets/release/").content.decode()
    assert f'href="{url}">Heat map of demo/2026-11' in client.get("/admin/").content.decode()


def test_it_shows_counts_only_to_staff_without_restricted(client, release, operator, staff_with):
    sample = release_samples(release=release, limit=1)[0]
    request = request_create(category="csam", actor=operator, source="CanarySource", reference="CanaryRef",
                             identifiers=[ParsedIdentifier(2, "url", sample["url"])])
    request_approve(request=request, actor=operator)
    publish(request)
    client.force_login(staff_with("rita", "reviewer"))

    body = client.get(f"/admin/datasets/release/{release.pk}/heatmap/").content.decode()

    assert f'data-shard="{sample["shard"]}" data-removed="1"' in body
    for secret in ("CanarySource", "CanaryRef", sample["url"], sample["key"], request.tracking_id):
        assert secret not in body


def test_it_is_for_staff_only(client, release, django_user_model):
    url = f"/admin/datasets/release/{release.pk}/heatmap/"
    assert client.get(url).url.startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    assert client.get(url).url.startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("bare", password="x", is_staff=True))
    assert client.get(url).status_code == 403  # staff without a role may not view releases
    assert client.get("/admin/datasets/release/999999/heatmap/").status_code == 404
