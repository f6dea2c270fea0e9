"""Opt-outs by domain and URL prefix, derived releases, the allow-list, later releases."""
import pytest

from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import blocked_keys
from apps.core.identifiers import ParsedIdentifier
from apps.datasets import synthetic
from apps.datasets.services import release_import
from apps.matching.models import AllowListEntry
from apps.matching.selectors import Query, allow_listed, hits_for
from apps.matching.services import allow_list_add, allow_list_revoke
from apps.removals.services import request_approve, request_create
from tests.support.removals import publish, ready


def _keys(hits):
    return {h.key for h in hits}


def _host(url):
    from urllib.parse import urlsplit

    return urlsplit(url).hostname


def test_a_domain_hits_every_url_on_it_and_its_subdomains(release, release_on_disk):
    samples = release_on_disk.data.successful()
    host = _host(samples[0].canonical_url)
    parent = host.split(".", 1)[1]  # img3.example-cdn.com -> example-cdn.com
    on_host = {s.key for s in samples if _host(s.canonical_url) == host}
    on_parent = {s.key for s in samples if _host(s.canonical_url) == parent or _host(s.canonical_url).endswith(
        "." + parent)}
    assert on_host < on_parent
    assert _keys(hits_for([Query(0, "domain", host)])) == on_host
    assert _keys(hits_for([Query(0, "domain", parent)])) == on_parent
    assert _keys(hits_for([Query(0, "domain", "nowhere.example")])) == set()
    assert _keys(hits_for([Query(0, "domain", "mple-cdn.com")])) == set()  # a suffix is not a parent domain


def test_a_url_prefix_hits_only_urls_that_start_with_it(release, release_on_disk):
    samples = release_on_disk.data.successful()
    url = samples[3].canonical_url
    prefix = url.rsplit("/", 1)[0] + "/"
    expected = {s.key for s in samples if s.canonical_url.startswith(prefix)}
    assert samples[3].key in expected
    assert _keys(hits_for([Query(0, "url_prefix", prefix)])) == expected
    assert _keys(hits_for([Query(0, "url_prefix", url + "-not")])) == set()


def test_a_removal_flows_to_a_derived_release_by_content_not_by_key(release, release_on_disk, operator, tmp_path):
    # A reshard: the same samples under new keys, in a release declared derived from the first.
    data = release_on_disk.data
    resharded = synthetic.write_release(tmp_path / "reshard", shards=3, samples_per_shard=20, seed=7,
                                        hash_columns=("sha256", "md5"), key_column="key", oom_shard_count=6)
    derived = release_import(dataset="demo", release="2026-12", path=tmp_path / "reshard", derived_from="2026-11",
                             actor=operator).release
    sample = data.successful()[4]
    twin = resharded.by_key(next(s.key for s in resharded.successful() if s.sha256 == sample.sha256))
    assert twin.key != sample.key

    hits = hits_for([Query(0, "key", sample.key)])
    by_release = {(h.release_id, h.key): h for h in hits}
    assert (release.pk, sample.key) in by_release and not by_release[(release.pk, sample.key)].expanded
    flowed = by_release[(derived.pk, twin.key)]
    assert flowed.expanded and flowed.via in ("url", "md5", "sha256")
    # The positional key does not name anything in the derived release.
    assert (derived.pk, sample.key) not in by_release


def test_a_release_imported_later_starts_with_the_approved_removals(release, release_on_disk, operator, tmp_path):
    sample = release_on_disk.data.successful()[7]
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(2, "sha256", sample.sha256)])
    request_approve(request=request, actor=operator)
    publish(request)

    copy = release_import(dataset="mirror-of-demo", release="v1", path=release_on_disk.path, actor=operator).release
    ready(copy)  # what a worker does on release.ready
    version = BlocklistVersion.objects.get(release=copy)
    assert version.version == 1
    assert sample.key in blocked_keys(copy)[sample.shard]
    assert request in version.requests.all()


def test_the_allow_list_drops_identifiers_and_samples_and_republishes(
        release, release_on_disk, operator, django_capture_on_commit_callbacks, eager_tasks):
    samples = release_on_disk.data.successful()
    keep, drop = samples[1], samples[2]
    request = request_create(category="copyright", actor=operator, identifiers=[
        ParsedIdentifier(2, "key", keep.key), ParsedIdentifier(3, "key", drop.key)])
    request_approve(request=request, actor=operator)
    [v1] = publish(request)
    assert v1.key_count == 2

    with django_capture_on_commit_callbacks(execute=True):
        entry = allow_list_add(actor=operator, reason="a cat, not the reported photo", release=release,
                               key=drop.key)
    assert drop.key not in _keys(hits_for([Query(0, "key", drop.key)]))
    latest = BlocklistVersion.objects.filter(release=release).latest()
    assert latest.version == 2 and latest.key_count == 1  # published again without the sample

    with django_capture_on_commit_callbacks(execute=True):
        allow_list_revoke(entry=entry, actor=operator)
    assert BlocklistVersion.objects.filter(release=release).latest().key_count == 2

    listed = allow_list_add(actor=operator, reason="our own logo", kind="URL", value=keep.url)
    assert allow_listed([Query(0, "url", keep.canonical_url)]) == [Query(0, "url", keep.canonical_url)]
    assert hits_for([Query(0, "url", keep.canonical_url)]) == []
    assert listed.value == keep.canonical_url


def test_the_allow_list_refuses_duplicates_and_empty_reasons(release, operator):
    from apps.core.errors import TakedownError

    allow_list_add(actor=operator, reason="known", kind="md5", value="a" * 32)
    with pytest.raises(TakedownError, match="already on the allow-list"):
        allow_list_add(actor=operator, reason="again", kind="md5", value="A" * 32)
    with pytest.raises(TakedownError, match="needs a reason"):
        allow_list_add(actor=operator, reason=" ", kind="md5", value="b" * 32)
    assert AllowListEntry.objects.count() == 1


def test_a_request_can_widen_its_pdq_threshold(release, release_on_disk, operator):
    from apps.matching.services import request_match

    sample = release_on_disk.data.successful()[5]
    far = f"{int(sample.member_pdq, 16) ^ ((1 << 40) - 1):064x}"  # 40 bits away
    narrow = request_create(category="ncii", actor=operator, identifiers=[ParsedIdentifier(2, "pdq", far)])
    wide = request_create(category="ncii", actor=operator, identifiers=[ParsedIdentifier(2, "pdq", far)],
                          pdq_threshold=44)
    assert request_match(request=narrow).matches == 0
    assert request_match(request=wide).matches >= 1
    assert wide.matches.get(key=sample.key).distance == 40


@pytest.fixture
def segmented(db, release_on_disk, operator, settings):
    """The synthetic release split into index segments of about 20 samples."""
    settings.INDEX_SEGMENT_ROWS = 20
    return release_import(dataset="seg", release="r1", path=release_on_disk.path, actor=operator).release


def test_a_release_is_indexed_in_segments_and_every_segment_is_searched(segmented, release_on_disk):
    from apps.index.index import open_index

    names = [s.folder.name for s in open_index(segmented.index_path).segments]
    assert names == ["seg-0000", "seg-0001", "seg-0002"]
    sample = release_on_disk.data.successful()[-1]  # in the last shard, so the last segment
    first = release_on_disk.data.successful()[0]  # in the first segment
    assert _keys(hits_for([Query(0, "key", sample.key), Query(1, "key", first.key)])) == {sample.key, first.key}


def test_a_finalize_cut_short_keeps_finished_segments_and_removes_leftovers(segmented, operator):
    from apps.datasets.models import Release
    from apps.datasets.services import release_finalize

    root = segmented.index_path
    built = {p.name: p.stat().st_mtime_ns for p in root.glob("seg-*/meta.json")}
    (root / ".seg-0003.abcd1234.tmp").mkdir()
    (root / "parts" / ".00001.abcd1234.arrow.tmp").write_bytes(b"half a part")
    Release.objects.filter(pk=segmented.pk).update(status=Release.Status.INDEXING)
    release_finalize(release=segmented, actor=operator)
    assert {p.name: p.stat().st_mtime_ns for p in root.glob("seg-*/meta.json")} == built
    assert not list(root.glob(".*.tmp")) and not list((root / "parts").glob(".*.tmp"))
