"""`manage.py register_model NAME --from-card README.md | --from-spdx FILE`: what a model card or an SPDX 3 document
says the model was trained on, mapped to our releases through ADVISORY_DATASET_MAP; and that setting's parsing."""
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from apps.advisories.models import TrainedModel
from project.settings import env_dataset_map
from tests.advisories.support import other_release
from tests.advisories.test_cards import CLIP_CARD, FINETUNE_CARD, _spdx_document

pytestmark = pytest.mark.django_db

CLIP = "clip-vit-h-14-laion2b-s32b-b79k"


@pytest.fixture
def mapped(settings, release):
    settings.ADVISORY_DATASET_MAP = {"laion/laion2B-en": "demo/2026-11"}
    return settings


def _releases(name: str) -> list[str]:
    trained = TrainedModel.objects.get(name=name).training_sets.select_related("release__dataset")
    return [str(t.release) for t in trained]


def test_a_model_card_registers_the_mapped_datasets_and_warns_of_the_others(run_command, mapped, tmp_path):
    card = tmp_path / "README.md"
    card.write_text(CLIP_CARD)

    out, _ = run_command("register_model", CLIP, "--from-card", str(card), "--hf-repo",
                         "laion/CLIP-ViT-H-14-laion2B-s32B-b79K")

    assert _releases(CLIP) == ["demo/2026-11"]
    lines = out.strip().splitlines()
    assert lines[0] == ("Warning: README.md: not mapped to a release, left out: laion/relaion2B-en-research-safe "
                        "(ADVISORY_DATASET_MAP)")
    assert "trained on demo/2026-11 (whole)" in lines[1]
    assert lines[-2] == "API token (shown once, stored only as a hash):"


def test_a_card_maps_a_repository_case_blind_and_by_revision(run_command, settings, release, release_on_disk,
                                                            operator, tmp_path):
    other_release(release_on_disk, operator)
    settings.ADVISORY_DATASET_MAP = {"LAION/laion2b-en": "demo/2026-11",
                                     "laion/relaion2B-en-research-safe": "demo/2026-12"}
    card = tmp_path / "README.md"
    card.write_text(CLIP_CARD)

    out, _ = run_command("register_model", "clip", "--from-card", str(card))

    assert sorted(_releases("clip")) == ["demo/2026-11", "demo/2026-12"]
    assert "Warning" not in out


def test_a_card_base_model_becomes_the_base_when_a_registered_model_has_that_repository(run_command, mapped, tmp_path):
    run_command("register_model", "clip-h", "--trained-on", "demo/2026-11",
                "--hf-repo", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K")
    card = tmp_path / "README.md"
    card.write_text(FINETUNE_CARD)  # base_model: laion/CLIP-ViT-H-14-..., datasets: acme/product-photos (not ours)

    out, _ = run_command("register_model", "clip-products", "--from-card", str(card))

    tuned = TrainedModel.objects.get(name="clip-products")
    assert tuned.base_model.name == "clip-h" and _releases("clip-products") == []
    assert "not mapped to a release, left out: acme/product-photos" in out
    assert "fine-tuned from clip-h" in out


def test_a_card_whose_datasets_map_to_nothing_is_refused_naming_them(run_command, mapped, tmp_path):
    card = tmp_path / "README.md"
    card.write_text(FINETUNE_CARD)  # its base model is not registered either

    with pytest.raises(CommandError, match=r"README\.md: no dataset it names is one of ours: acme/product-photos "
                                           r"\(map a repository to DATASET/RELEASE in ADVISORY_DATASET_MAP\)"):
        run_command("register_model", "clip-products", "--from-card", str(card))

    assert not TrainedModel.objects.exists()


def test_an_unreadable_card_is_refused_naming_the_file(run_command, mapped, tmp_path):
    card = tmp_path / "README.md"
    card.write_text("# no front matter\n")

    with pytest.raises(CommandError, match=r"README\.md: no YAML front matter"):
        run_command("register_model", "m", "--from-card", str(card))
    with pytest.raises(CommandError, match=r"--from-card .*missing\.md: no such file"):
        run_command("register_model", "m", "--from-card", str(tmp_path / "missing.md"))
    assert not TrainedModel.objects.exists()


def test_spdx_registers_the_ai_package_named_like_the_model(run_command, mapped, tmp_path):
    document = tmp_path / "clip.spdx.json"
    document.write_text(json.dumps(_spdx_document(), indent=2))

    out, _ = run_command("register_model", CLIP, "--from-spdx", str(document))

    assert _releases(CLIP) == ["demo/2026-11"]  # laion2B-en; imagenet is testedOn, not trained on
    assert ("Warning: clip.spdx.json: not mapped to a release, left out: laion/relaion2B-en-research-safe@7f4b5c1e"
            in out)


def test_spdx_with_several_models_and_none_named_so_is_refused_listing_them(run_command, mapped, tmp_path):
    document = tmp_path / "clip.spdx.json"
    document.write_text(json.dumps(_spdx_document()))

    with pytest.raises(CommandError) as caught:
        run_command("register_model", "something-else", "--from-spdx", str(document))

    assert str(caught.value) == (
        "clip.spdx.json describes 2 models ('CLIP-ViT-H-14-laion2B-s32B-b79K', 'clip-vit-h-14-products'); none is "
        "named 'something-else': register one of them by its name")
    assert not TrainedModel.objects.exists()


def test_spdx_model_trained_only_on_datasets_not_ours_is_refused(run_command, mapped, tmp_path):
    document = tmp_path / "clip.spdx.json"
    document.write_text(json.dumps(_spdx_document()))

    with pytest.raises(CommandError, match=r"no dataset it names is one of ours: product-photos@3"):
        run_command("register_model", "clip-vit-h-14-products", "--from-spdx", str(document))


def test_card_and_spdx_together_are_refused(run_command, mapped, tmp_path):
    with pytest.raises(CommandError, match="give --from-card or --from-spdx, not both"):
        run_command("register_model", "m", "--from-card", "a", "--from-spdx", "b")


# --- ADVISORY_DATASET_MAP --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "laion/laion2B-en=laion2b-en/2024-08, laion/relaion2B-en@7f4b5c1e = relaion/2024-08",
    '{"laion/laion2B-en": "laion2b-en/2024-08", "laion/relaion2B-en@7f4b5c1e": "relaion/2024-08"}',
])
def test_the_dataset_map_reads_pairs_or_json(monkeypatch, raw):
    monkeypatch.setenv("ADVISORY_DATASET_MAP", raw)

    assert env_dataset_map("ADVISORY_DATASET_MAP") == {
        "laion/laion2B-en": "laion2b-en/2024-08", "laion/relaion2B-en@7f4b5c1e": "relaion/2024-08"}


@pytest.mark.parametrize(("raw", "message"), [
    ("laion/laion2B-en", "is not repo=DATASET/RELEASE"),
    ("laion/laion2B-en=laion2b-en", "the release must be DATASET/RELEASE"),
    ("laion/laion2B-en=a/b/c", "the release must be DATASET/RELEASE"),
    ("a b=x/y", "is not a dataset repository id"),
    ("laion/x=a/b,LAION/X=c/d", "'LAION/X' is mapped twice"),
    ('{"laion/x": 3}', "must be text"),
    ('{"laion/x": ', "not a JSON object"),
])
def test_a_bad_dataset_map_fails_start_up_naming_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv("ADVISORY_DATASET_MAP", raw)

    with pytest.raises(ImproperlyConfigured, match="^ADVISORY_DATASET_MAP: .*" + message.replace("(", r"\(")):
        env_dataset_map("ADVISORY_DATASET_MAP")


def test_no_dataset_map_is_an_empty_one(monkeypatch):
    monkeypatch.delenv("ADVISORY_DATASET_MAP", raising=False)

    assert env_dataset_map("ADVISORY_DATASET_MAP") == {}
