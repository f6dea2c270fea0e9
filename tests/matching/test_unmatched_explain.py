"""An identifier that matches nothing says why: a PDQ hash how far the nearest sample is against the threshold,
an identifier whose hits are all allow-listed that it is allow-listed (not that it matches nothing)."""
import pytest
from django.conf import settings

from apps.core import pdq
from apps.datasets import synthetic
from apps.matching.selectors import Query, unmatched_explain
from apps.matching.services import allow_list_add

pytestmark = pytest.mark.django_db


def _flipped(value: str, bits: int) -> str:
    return f"{int(value, 16) ^ ((1 << bits) - 1):064x}"


def _usable(release_on_disk):
    """A sample whose indexed PDQ hash counts for matching (above the quality floor)."""
    return next(s for s in release_on_disk.data.successful()
                if s.member_pdq and (s.member_quality or 0) >= settings.PDQ_MIN_QUALITY)


def _nearest(release_on_disk, value: str) -> int:
    return min(pdq.distance(value, s.member_pdq) for s in release_on_disk.data.successful() if s.member_pdq)


def test_match_names_the_nearest_pdq_distance_and_the_threshold(run_command, release, release_on_disk, tmp_path):
    sample = _usable(release_on_disk)
    near_miss, far = _flipped(sample.member_pdq, 34), _flipped(sample.member_pdq, 110)
    assert _nearest(release_on_disk, near_miss) == 34 and _nearest(release_on_disk, far) > 62
    csv_path = synthetic.write_removals_csv(tmp_path / "r.csv", [("pdq", near_miss), ("pdq", far)])
    out, _ = run_command("match", "demo", "2026-11", str(csv_path), "--out", str(tmp_path / "m.parquet"))
    assert "2 identifier(s) match nothing:" in out
    assert f"  line 2: pdq {near_miss} (nearest sample at distance 34; threshold 31)" in out
    assert f"  line 3: pdq {far} (no sample within distance 62; threshold 31)" in out

    # With the threshold raised past it, the near miss matches.
    out, _ = run_command("match", "demo", "2026-11", str(csv_path), "--out", str(tmp_path / "m.parquet"),
                         "--threshold", "34")
    assert "2 identifiers: 1 matches in 1 samples of demo/2026-11" in out
    assert f"line 3: pdq {far} (no sample within distance 68; threshold 34)" in out


def test_an_identifier_whose_hits_are_allow_listed_is_reported_so(run_command, release, release_on_disk,
                                                                  operator, tmp_path):
    samples = release_on_disk.data.successful()
    allow_list_add(actor=operator, reason="our own test image", release=release, key=samples[0].key)
    allow_list_add(actor=operator, reason="a stock photo", kind="sha256", value=samples[1].sha256)
    csv_path = synthetic.write_removals_csv(tmp_path / "r.csv", [
        ("key", samples[0].key), ("sha256", samples[1].sha256), ("key", samples[2].key), ("key", "no-such-key")])
    out, _ = run_command("match", "demo", "2026-11", str(csv_path), "--out", str(tmp_path / "m.parquet"))
    assert "4 identifiers: 1 matches in 1 samples of demo/2026-11" in out
    assert "2 identifier(s) are allow-listed (known false positives), not unmatched:" in out
    assert f"  line 2: key {samples[0].key}: allow-listed (1 sample)" in out
    assert (f"  line 3: sha256 {samples[1].sha256}: allow-listed (1 sample); the identifier itself is on the "
            "allow-list") in out
    assert "1 identifier(s) match nothing:\n  line 5: key no-such-key\n" in out


def test_the_selector_counts_allow_listed_samples_within_the_threshold_only(release, release_on_disk, operator):
    sample = _usable(release_on_disk)
    allow_list_add(actor=operator, reason="false positive", release=release, key=sample.key)
    within, beyond = _flipped(sample.member_pdq, 20), _flipped(sample.member_pdq, 40)
    why = unmatched_explain([Query(1, "pdq", within), Query(2, "pdq", beyond)], threshold=31)
    assert (why[1].allowed, str(why[1])) == (1, "allow-listed (1 sample)")
    assert (why[2].allowed, why[2].nearest, str(why[2])) == (0, 40, "nearest sample at distance 40; threshold 31")
