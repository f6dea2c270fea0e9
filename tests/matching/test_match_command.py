import pyarrow.parquet as pq
import pytest
from django.core.management.base import CommandError

from apps.core.identifiers import normalise
from apps.datasets import synthetic
from apps.removals.models import RemovalRequest


def test_it_previews_matches_to_parquet_without_creating_a_request(run_command, release, release_on_disk, tmp_path):
    expected = synthetic.make_removals(release_on_disk.data, seed=5, n_unmatched=2)
    csv_path = synthetic.write_removals_csv(tmp_path / "r.csv", expected)
    out, _ = run_command("match", "demo", "2026-11", str(csv_path), "--out", str(tmp_path / "m.parquet"))

    table = pq.read_table(tmp_path / "m.parquet")
    assert {"shard", "key", "kind", "value", "distance"} <= set(table.column_names)
    rows = table.to_pylist()
    by_value = {}
    for row in rows:
        by_value.setdefault((row["kind"], row["value"]), set()).add(row["key"])
        assert row["shard"] == release_on_disk.data.by_key(row["key"]).shard
    for removal in expected:
        if removal.keys:
            assert by_value[(removal.kind, normalise(removal.kind, removal.value))] == set(removal.keys)
    assert all(r["distance"] == 0 for r in rows if r["kind"] != "pdq")
    assert "2 identifier(s) match nothing" in out
    assert not RemovalRequest.objects.exists()


def test_it_names_an_unknown_release(run_command, release, tmp_path):
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("kind,value\nkey,1\n")
    with pytest.raises(CommandError, match=r"dataset 'demo' has no release '1999' \(known: 2026-11\)"):
        run_command("match", "demo", "1999", str(csv_path), "--out", str(tmp_path / "m.parquet"))
    with pytest.raises(CommandError, match=r"unknown dataset 'nope'"):
        run_command("match", "nope", "1999", str(csv_path), "--out", str(tmp_path / "m.parquet"))
    assert not (tmp_path / "m.parquet").exists()


def test_it_names_allow_listed_identifiers_apart(run_command, release, release_on_disk, operator, tmp_path):
    from apps.matching.services import allow_list_add

    sample = release_on_disk.data.successful()[0]
    allow_list_add(actor=operator, reason="our own test image", kind="sha256", value=sample.sha256)
    csv_path = synthetic.write_removals_csv(tmp_path / "r.csv", [("sha256", sample.sha256), ("key", sample.key)])
    out, _ = run_command("match", "demo", "2026-11", str(csv_path), "--out", str(tmp_path / "m.parquet"))
    assert "1 identifier(s) are allow-listed (known false positives), not unmatched:" in out
    assert [r["kind"] for r in pq.read_table(tmp_path / "m.parquet").to_pylist()] == ["key"]
