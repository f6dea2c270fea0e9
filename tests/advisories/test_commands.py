"""`manage.py register_model` and `manage.py model_advisories`."""
import json

import pytest
from django.core.management.base import CommandError

from apps.advisories.models import TrainedModel
from apps.advisories.services import MODEL_TOKENS
from apps.datasets.selectors import release_samples
from apps.tokens.services import token_holder
from tests.advisories.support import keys_parquet, keys_text, remove

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(release):
    return [s["key"] for s in release_samples(release=release, limit=60)]


def test_it_registers_a_subset_model_and_prints_its_token_last(run_command, release, keys, tmp_path, settings):
    keys_file = keys_text(tmp_path / "keys.txt", keys[:10])

    out, _ = run_command("register_model", "clip-small", "--trained-on", "demo/2026-11", "--keys", str(keys_file),
                         "--owner-org", "Acme", "--owner-email", "ml@acme.example", "--private")

    lines = out.strip().splitlines()
    model = TrainedModel.objects.get(name="clip-small")
    assert token_holder(queryset=TrainedModel.objects, kind=MODEL_TOKENS, token=lines[-1]) == model
    assert lines[-2] == "API token (shown once, stored only as a hash):"
    assert "trained on demo/2026-11 (10 samples)" in lines[0] and "not listed publicly" in lines[0]
    assert (model.owner_org, model.contact_email, model.public, model.webhook_secret) == (
        "Acme", "ml@acme.example", False, "")
    training = model.training_sets.get()
    assert training.subset_count == 10 and (settings.ADVISORY_SUBSETS_DIR / training.subset_path).is_file()


def test_with_a_webhook_it_prints_the_signing_secret_on_the_line_before_the_token(run_command, release):
    out, _ = run_command("register_model", "hooked", "--trained-on", "demo/2026-11",
                         "--webhook", "https://hooks.example/models")

    lines = out.strip().splitlines()
    model = TrainedModel.objects.get(name="hooked")
    assert lines[-2].startswith("whsec_") and lines[-2] == model.webhook_secret
    assert token_holder(queryset=TrainedModel.objects, kind=MODEL_TOKENS, token=lines[-1]) == model


def test_a_fine_tune_names_its_base(run_command, release):
    run_command("register_model", "base", "--trained-on", "demo/2026-11")
    out, _ = run_command("register_model", "tuned", "--base", "base")

    assert TrainedModel.objects.get(name="tuned").base_model.name == "base"
    assert "fine-tuned from base" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--trained-on", "demo/1999-01"], "dataset 'demo' has no release '1999-01'"),
    (["--trained-on", "nope/2026-11"], "nope"),
    (["--trained-on", "demo"], "--trained-on takes DATASET/RELEASE"),
    ([], "give the releases it was trained on, or its base model"),
    (["--base", "ghost"], "no registered model named 'ghost'"),
    (["--trained-on", "demo/2026-11", "--webhook", "ftp://x"], "not an http(s) URL"),
    (["--trained-on", "demo/2026-11", "--keys", "/nonexistent/keys.txt"], "--keys /nonexistent/keys.txt: no such file"),
])
def test_bad_input_is_one_clear_line_and_registers_nothing(run_command, release, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_command("register_model", "m", *args)

    assert not TrainedModel.objects.exists()


def test_a_keys_file_with_two_releases_is_refused_as_ambiguous(run_command, release, keys, tmp_path):
    keys_file = keys_text(tmp_path / "keys.txt", keys[:3])
    with pytest.raises(CommandError, match="--keys is the subset of one release: give exactly one --trained-on"):
        run_command("register_model", "m", "--trained-on", "demo/2026-11", "--trained-on", "demo/2026-12",
                    "--keys", str(keys_file))


def _raw(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("write", "message"), [
    (lambda path, keys: keys_parquet(path.with_suffix(".parquet"), keys, column="sample_id"),
     "no `key` column (columns: sample_id)"),
    (lambda path, keys: keys_text(path, []), "no keys in it"),
    (lambda path, keys: _raw(path, b"PAR1 truncated"), "not a readable parquet file"),
    (lambda path, keys: _raw(path, b"\xff\xfe\x00bad"), "neither parquet nor UTF-8 text"),
])
def test_a_bad_keys_file_is_refused_naming_it_and_nothing_is_written(run_command, release, keys, tmp_path, settings,
                                                                    write, message):
    path = write(tmp_path / "keys.txt", keys[:3])

    with pytest.raises(CommandError, match=f"keys file {path}: .*{message.replace('(', '.').replace(')', '.')}"):
        run_command("register_model", "m", "--trained-on", "demo/2026-11", "--keys", str(path))

    assert not TrainedModel.objects.exists()
    folder = settings.ADVISORY_SUBSETS_DIR
    assert not folder.exists() or not any(folder.iterdir())


def test_model_advisories_lists_them_as_a_table_and_as_json(run_command, release, keys, operator):
    run_command("register_model", "whole", "--trained-on", "demo/2026-11")
    run_command("register_model", "idle", "--trained-on", "demo/2026-11")
    remove(operator, release, keys[:2], category="ncii")

    table, _ = run_command("model_advisories", "--model", "whole")
    rows, _ = run_command("model_advisories", "--json")
    none, _ = run_command("model_advisories", "--model", "idle")

    assert table.splitlines()[0].split() == ["model", "release", "version", "removed", "categories", "status",
                                             "deadline"]
    assert table.splitlines()[1].split()[:7] == ["whole", "demo/2026-11", "v1", "2", "legal", "2", "affected"]
    parsed = json.loads(rows)
    assert {r["model"] for r in parsed} == {"whole", "idle"}
    assert all(r["categories"] == {"legal": 2} and r["removed"] == 2 for r in parsed)
    assert "ncii" not in table + rows
    assert "No advisories" not in none  # idle was trained on the release too
    with pytest.raises(CommandError, match="no registered model named 'ghost'"):
        run_command("model_advisories", "--model", "ghost")
