from collections import defaultdict

from apps.core import pdq
from apps.core.identifiers import normalise
from apps.datasets import synthetic
from apps.matching.selectors import Query, hits_for


def _hits(queries, **kwargs):
    found = defaultdict(set)
    for hit in hits_for(queries, **kwargs):
        found[hit.ref].add(hit.key)
    return found


def test_it_finds_what_every_kind_of_identifier_should_hit(release, release_on_disk):
    expected = synthetic.make_removals(release_on_disk.data, seed=3, n_sha1=0, n_unmatched=3)
    queries = [Query(ref=i, kind=e.kind, value=normalise(e.kind, e.value)) for i, e in enumerate(expected)]
    found = _hits(queries)
    kinds = {e.kind for e in expected}
    assert {"url", "key", "md5", "sha256", "pdq"} <= kinds
    for i, removal in enumerate(expected):
        assert found.get(i, set()) == set(removal.keys), (removal.kind, removal.value)


def test_it_hits_the_same_image_at_two_urls_by_hash(release, release_on_disk):
    keys = release_on_disk.data.duplicates()["image"][0]
    sample = release_on_disk.data.by_key(keys[0])
    found = _hits([Query(ref="h", kind="sha256", value=sample.sha256)])
    assert found["h"] == set(keys)


def test_it_matches_pdq_of_a_reencoded_copy_and_records_the_distance(release, release_on_disk):
    sample = release_on_disk.data.successful()[4]
    copy_hash, _ = pdq.compute(synthetic.reencode(release_on_disk.data.originals[sample.key], size=180, quality=60))
    hits = [h for h in hits_for([Query(ref=0, kind="pdq", value=copy_hash)]) if h.key == sample.key]
    assert len(hits) == 1
    assert hits[0].distance <= 31
    assert hits[0].distance == pdq.distance(copy_hash, sample.member_pdq)


def test_it_respects_the_pdq_threshold(release, release_on_disk):
    sample = release_on_disk.data.successful()[2]
    flipped = f"{int(sample.member_pdq, 16) ^ ((1 << 40) - 1):064x}"  # 40 bits away
    query = [Query(ref=0, kind="pdq", value=flipped)]
    assert sample.key not in {h.key for h in hits_for(query)}
    assert sample.key in {h.key for h in hits_for(query, threshold=40)}


def test_it_expands_url_hits_to_the_same_image_and_marks_them(release, release_on_disk):
    keys = release_on_disk.data.duplicates()["image"][0]
    sample = release_on_disk.data.by_key(keys[0])
    query = [Query(ref=0, kind="url", value=sample.canonical_url)]

    same_url = {s.key for s in release_on_disk.data.successful() if s.canonical_url == sample.canonical_url}
    assert {h.key for h in hits_for(query)} == same_url
    expanded = {h.key: h for h in hits_for(query, expand=True)}
    other = keys[1]
    assert expanded[other].expanded and expanded[other].via in ("sha256", "md5")
    assert not expanded[sample.key].expanded


def test_it_reports_nothing_for_identifiers_that_match_nothing(release):
    queries = [
        Query(ref=0, kind="url", value="https://nowhere.example/x.jpg"),
        Query(ref=1, kind="md5", value="0" * 32),
        Query(ref=2, kind="key", value="999999999"),
        Query(ref=3, kind="pdq", value="0" * 64),
    ]
    assert hits_for(queries) == []


def test_it_searches_only_the_releases_asked_for(release, release_on_disk, operator, tmp_path):
    from apps.datasets.services import release_import

    other = release_import(dataset="demo", release="copy", path=release_on_disk.path, actor=operator).release
    sample = release_on_disk.data.successful()[0]
    query = [Query(ref=0, kind="key", value=sample.key)]
    assert {h.release_id for h in hits_for(query)} == {release.pk, other.pk}
    assert {h.release_id for h in hits_for(query, releases=[other])} == {other.pk}


def test_it_leaves_out_low_quality_hashes_when_told(release, release_on_disk, settings):
    sample = release_on_disk.data.successful()[6]
    query = [Query(ref=0, kind="pdq", value=sample.member_pdq)]
    assert sample.key in {h.key for h in hits_for(query)}
    settings.PDQ_MIN_QUALITY = sample.member_quality + 1
    assert sample.key not in {h.key for h in hits_for(query)}
