"""What a model says it was trained on: Hugging Face model cards and SPDX 3.0.1 documents in their real formats,
each refused whole with a message naming the file (and the line or element) when it cannot be read, and the
mapping of dataset repository ids to releases."""
import copy
import json

import pytest

from apps.advisories import cards
from apps.advisories.cards import (
    ModelCardInfo,
    SpdxPackage,
    dataset_refs_to_releases,
    read_model_card,
    read_spdx3,
)
from apps.core.errors import TakedownError

# Shaped like the OpenCLIP cards on the Hub (laion/CLIP-ViT-H-14-laion2B-s32B-b79K), with the training data named.
CLIP_CARD = """---
license: mit
widget:
- src: https://huggingface.co/datasets/mishig/sample_images/resolve/main/cat-dog-music.png
  candidate_labels: playing music, playing sports
  example_title: Cat & Dog
library_name: open_clip
pipeline_tag: zero-shot-image-classification
datasets:
- laion/laion2B-en
- laion/relaion2B-en-research-safe
- laion/laion2B-en
tags:
- clip
model-index:
- name: CLIP-ViT-H-14-laion2B-s32B-b79K
  results:
  - task:
      type: zero-shot-image-classification
    dataset:
      name: ImageNet-1k
      type: imagenet-1k
    metrics:
    - type: accuracy
      value: 78.0
---
# Model Card for CLIP ViT-H/14 - LAION-2B

A CLIP ViT-H/14 model trained with the LAION-2B English subset of LAION-5B using OpenCLIP.

---

## Training Details
"""

FINETUNE_CARD = """---
model_name: clip-vit-h-14-products
base_model:
- laion/CLIP-ViT-H-14-laion2B-s32B-b79K
base_model_relation: finetune
datasets: acme/product-photos
license: other
license_name: acme-model-license
---
Fine-tuned on our product photos.
"""


def test_it_reads_the_datasets_base_models_name_and_licence_of_an_openclip_card():
    info = read_model_card(CLIP_CARD, source="README.md")

    assert info == ModelCardInfo(
        datasets=["laion/laion2B-en", "laion/relaion2B-en-research-safe"],  # card order, the repeat dropped
        base_models=[], base_model_relation=None, name="CLIP-ViT-H-14-laion2B-s32B-b79K", license="mit")


def test_it_reads_a_single_string_dataset_a_base_model_list_and_the_relation():
    info = read_model_card(FINETUNE_CARD, source="README.md")

    assert info.datasets == ["acme/product-photos"]
    assert info.base_models == ["laion/CLIP-ViT-H-14-laion2B-s32B-b79K"]
    assert info.base_model_relation == "finetune"
    assert info.name == "clip-vit-h-14-products"
    assert info.license == "other"


def test_a_fine_tune_naming_only_its_base_model_is_read():
    info = read_model_card("---\nbase_model: laion/CLIP-ViT-B-32-laion2B-s34B-b79K\n---\n", source="README.md")

    assert info.base_models == ["laion/CLIP-ViT-B-32-laion2B-s34B-b79K"]
    assert info.datasets == []


def test_bytes_with_a_byte_order_mark_and_windows_line_ends_are_read():
    data = "\ufeff---\r\ndatasets:\r\n- laion/laion2B-en@v1.0\r\n---\r\n# Card\r\n".encode()

    assert read_model_card(data, source="README.md").datasets == ["laion/laion2B-en@v1.0"]


def test_a_card_without_front_matter_is_refused_naming_the_file():
    with pytest.raises(TakedownError, match=r"^clip/README\.md: no YAML front matter"):
        read_model_card("# CLIP\n\ndatasets: laion/laion2B-en\n", source="clip/README.md")


def test_front_matter_must_start_the_file():
    with pytest.raises(TakedownError, match="no YAML front matter"):
        read_model_card("\n---\ndatasets: laion/laion2B-en\n---\n", source="README.md")


def test_front_matter_that_is_never_closed_is_refused():
    with pytest.raises(TakedownError, match=r"README\.md: the front matter opened on line 1 is never closed"):
        read_model_card("---\ndatasets: laion/laion2B-en\n# Card\n", source="README.md")


def test_broken_yaml_is_refused_with_the_line_of_the_file_it_is_on():
    card = "---\nlicense: mit\ndatasets: [laion/laion2B-en\nbase_model: x/y\n---\n"

    with pytest.raises(TakedownError) as caught:
        read_model_card(card, source="README.md")

    # Line 4 of the file (base_model:) is where the unclosed list on line 3 fails.
    assert str(caught.value).startswith("README.md line 4: the front matter is not valid YAML")


def test_a_tab_indent_is_refused_with_its_line():
    with pytest.raises(TakedownError, match=r"^README\.md line 4: the front matter is not valid YAML"):
        read_model_card("---\nlicense: mit\ndatasets:\n\t- laion/laion2B-en\n---\n", source="README.md")


def test_a_control_character_is_refused_with_its_line():
    with pytest.raises(TakedownError, match=r"README\.md line 3: .*character YAML refuses \(U\+0007\)"):
        read_model_card("---\nlicense: mit\ndatasets: laion/laion2B-en\x07\n---\n", source="README.md")


def _alias_bomb(levels: int, width: int) -> str:
    lines = ["---", "lol0: &lol0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * width) + "]")
    lines += ["datasets: laion/laion2B-en", "---", ""]
    return "\n".join(lines)


def test_a_yaml_alias_bomb_is_refused_at_the_alias_over_the_limit():
    # The "billion laughs": nine levels of ten aliases, 10**9 strings once expanded, from a 1 KB card.
    with pytest.raises(TakedownError) as caught:
        read_model_card(_alias_bomb(levels=9, width=10), source="README.md")

    # The 21st alias is the first on lol3, the line after the two allowed levels: the file's line 5.
    assert str(caught.value) == ("README.md line 5: the front matter uses more than 20 YAML aliases (*name), "
                                 "refused (a model card needs none)")


def test_twenty_aliases_are_allowed():
    card = _alias_bomb(levels=2, width=10)

    assert read_model_card(card, source="README.md").datasets == ["laion/laion2B-en"]


def test_a_few_aliases_are_allowed():
    card = "---\nbase: &base laion/laion2B-en\ndatasets:\n- *base\n- laion/relaion2B-en-research-safe\n---\n"

    assert read_model_card(card, source="README.md").datasets == ["laion/laion2B-en",
                                                                  "laion/relaion2B-en-research-safe"]


def test_deeply_nested_yaml_is_refused_not_a_crash():
    with pytest.raises(TakedownError, match="nested too deeply"):
        read_model_card("---\nx: " + "[" * 100_000 + "\n---\n", source="README.md")


def test_a_card_over_the_size_limit_is_refused_before_it_is_parsed(monkeypatch):
    monkeypatch.setattr(cards, "MAX_CARD_BYTES", 100)
    card = "---\ndatasets: laion/laion2B-en\n---\n" + "x" * 100

    with pytest.raises(TakedownError, match=r"^README\.md: 135 bytes, more than a model card may have \(100\)"):
        read_model_card(card, source="README.md")
    with pytest.raises(TakedownError, match="135 bytes"):
        read_model_card(card.encode(), source="README.md")


def test_the_real_size_limit_is_one_mebibyte():
    with pytest.raises(TakedownError, match="more than a model card may have"):
        read_model_card("---\ndatasets: a/b\n---\n" + "x" * (1024 * 1024), source="README.md")


@pytest.mark.parametrize("front, message", [
    ("- laion/laion2B-en\n", "the front matter must be a mapping (datasets: ..., base_model: ...), not a list"),
    ("just text\n", "the front matter must be a mapping (datasets: ..., base_model: ...), not str"),
    ("", "the front matter must be a mapping (datasets: ..., base_model: ...), not empty"),
    ("datasets:\n  laion: laion2B-en\n", "datasets: must be a repository id or a list of them, not a mapping"),
    ("datasets: 2024\n", "datasets: must be a repository id or a list of them, not a number (2024)"),
    ("datasets:\n- laion/laion2B-en\n- 42\n", "datasets[1]: must be a repository id (org/name), not a number (42)"),
    ("datasets:\n- {name: laion}\n", "datasets[0]: must be a repository id (org/name), not a mapping"),
    ("datasets: 'laion/laion 2B'\n", "datasets: 'laion/laion 2B' is not a repository id (org/name)"),
    ("datasets:\n- https://huggingface.co/datasets/laion/laion2B-en\n",
     "datasets[0]: 'https://huggingface.co/datasets/laion/laion2B-en' is not a repository id"),
    ("base_model: true\n", "base_model: must be a repository id or a list of them, not true/false"),
    ("datasets: a/b\nlicense: [mit]\n", "license: must be text, not a list"),
    ("license: mit\n", "the front matter names no datasets: and no base_model:"),
    ("datasets: []\nbase_model:\n", "the front matter names no datasets: and no base_model:"),
])
def test_front_matter_of_the_wrong_shape_is_refused_saying_what_is_wrong(front, message):
    with pytest.raises(TakedownError) as caught:
        read_model_card(f"---\n{front}---\n# Card\n", source="acme/README.md")

    assert str(caught.value).startswith(f"acme/README.md: {message}")


# --- SPDX 3.0.1 --------------------------------------------------------------------------------------------------

BASE = "https://models.example.org/spdx/clip-h14"
CLIP_PURL = "pkg:huggingface/laion/CLIP-ViT-H-14-laion2B-s32B-b79K@de081ac0a0ca8dc9d1533eed1ae884bb8ae1404b"


def _spdx_document() -> dict:
    """An AI BOM in the shape of the SPDX examples (spdx/spdx-examples ai/): CLIP trained on two dataset packages
    and tested on a third, and a fine-tune of it trained on one."""
    ci = "_:creationinfo"
    return {
        "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",
        "@graph": [
            {"type": "CreationInfo", "@id": ci, "specVersion": "3.0.1", "created": "2026-11-20T10:00:00Z",
             "createdBy": [f"{BASE}/acme"]},
            {"type": "Organization", "spdxId": f"{BASE}/acme", "creationInfo": ci, "name": "ACME Vision"},
            {"type": "SpdxDocument", "spdxId": f"{BASE}/document", "creationInfo": ci,
             "profileConformance": ["core", "software", "ai", "dataset"], "rootElement": [f"{BASE}/bom"]},
            {"type": "software_Sbom", "spdxId": f"{BASE}/bom", "creationInfo": ci,
             "rootElement": [f"{BASE}/model/clip"], "software_sbomType": ["build"]},
            {"type": "ai_AIPackage", "spdxId": f"{BASE}/model/clip", "creationInfo": ci,
             "name": "CLIP-ViT-H-14-laion2B-s32B-b79K", "software_packageVersion": "1.0",
             "software_downloadLocation": "https://huggingface.co/laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
             "software_packageUrl": CLIP_PURL,
             "software_primaryPurpose": "model", "suppliedBy": f"{BASE}/acme", "releaseTime": "2026-11-01T00:00:00Z",
             "ai_typeOfModel": ["contrastive image-text model"], "ai_domain": ["computer vision"],
             "ai_autonomyType": "no",
             "ai_hyperparameter": [{"type": "DictionaryEntry", "key": "batch_size", "value": "79000"}]},
            {"type": "dataset_DatasetPackage", "spdxId": f"{BASE}/dataset/laion2b-en", "creationInfo": ci,
             "name": "laion2B-en", "software_packageVersion": "2022-03",
             "software_downloadLocation": "https://huggingface.co/datasets/laion/laion2B-en",
             "software_primaryPurpose": "data", "dataset_datasetType": ["image", "text"],
             "releaseTime": "2022-03-31T00:00:00Z", "builtTime": "2022-03-01T00:00:00Z",
             "dataset_datasetSize": 2322161808},
            {"type": "dataset_DatasetPackage", "spdxId": f"{BASE}/dataset/relaion", "creationInfo": ci,
             "name": "relaion2B-en-research-safe",
             "software_downloadLocation":
                 "https://huggingface.co/datasets/laion/relaion2B-en-research-safe/tree/7f4b5c1e",
             "software_packageUrl": "pkg:generic/relaion2B-en-research-safe@7f4b5c1e",
             "software_primaryPurpose": "data", "dataset_datasetType": ["image", "text"],
             "releaseTime": "2024-08-30T00:00:00Z", "builtTime": "2024-08-01T00:00:00Z"},
            {"type": "dataset_DatasetPackage", "spdxId": f"{BASE}/dataset/imagenet", "creationInfo": ci,
             "name": "imagenet-1k", "software_packageVersion": "2012",
             "software_downloadLocation": "https://image-net.org/download",
             "software_primaryPurpose": "data", "dataset_datasetType": ["image"],
             "releaseTime": "2012-01-01T00:00:00Z", "builtTime": "2012-01-01T00:00:00Z"},
            {"type": "ai_AIPackage", "spdxId": f"{BASE}/model/clip-products", "creationInfo": ci,
             "name": "clip-vit-h-14-products",
             "software_downloadLocation": "https://models.example.org/clip-products.safetensors",
             "software_primaryPurpose": "model", "suppliedBy": f"{BASE}/acme",
             "releaseTime": "2026-11-15T00:00:00Z"},
            {"type": "dataset_DatasetPackage", "spdxId": f"{BASE}/dataset/products", "creationInfo": ci,
             "name": "product-photos", "software_packageVersion": "3",
             "software_downloadLocation": "https://data.example.org/product-photos-v3.tar",
             "software_primaryPurpose": "data", "dataset_datasetType": ["image"],
             "releaseTime": "2026-10-01T00:00:00Z", "builtTime": "2026-10-01T00:00:00Z"},
            {"type": "Relationship", "spdxId": f"{BASE}/rel/clip-trained-on", "creationInfo": ci,
             "relationshipType": "trainedOn", "from": f"{BASE}/model/clip",
             "to": [f"{BASE}/dataset/laion2b-en", f"{BASE}/dataset/relaion"]},
            {"type": "Relationship", "spdxId": f"{BASE}/rel/clip-tested-on", "creationInfo": ci,
             "relationshipType": "testedOn", "from": f"{BASE}/model/clip", "to": [f"{BASE}/dataset/imagenet"]},
            {"type": "Relationship", "spdxId": f"{BASE}/rel/products-depends-on", "creationInfo": ci,
             "relationshipType": "dependsOn", "from": f"{BASE}/model/clip-products", "to": [f"{BASE}/model/clip"]},
            {"type": "LifecycleScopedRelationship", "spdxId": f"{BASE}/rel/products-trained-on",
             "creationInfo": ci, "relationshipType": "trainedOn", "scope": "development",
             "from": f"{BASE}/model/clip-products", "to": [f"{BASE}/dataset/products"]},
            {"type": "Relationship", "spdxId": f"{BASE}/rel/clip-declared-licence", "creationInfo": ci,
             "relationshipType": "hasDeclaredLicense", "from": f"{BASE}/model/clip", "to": [f"{BASE}/licence/mit"]},
            {"type": "simplelicensing_LicenseExpression", "spdxId": f"{BASE}/licence/mit", "creationInfo": ci,
             "simplelicensing_licenseExpression": "MIT"},
        ],
    }


def _graph_element(document: dict, spdx_id: str) -> dict:
    return next(element for element in document["@graph"] if element.get("spdxId") == spdx_id)


def test_it_reads_each_ai_package_and_the_dataset_packages_it_was_trained_on_not_tested_on():
    trained = read_spdx3(json.dumps(_spdx_document(), indent=2).encode(), source="clip.spdx3.json")

    assert [entry.model.name for entry in trained] == ["CLIP-ViT-H-14-laion2B-s32B-b79K", "clip-vit-h-14-products"]
    clip, products = trained
    assert clip.model == SpdxPackage(
        spdx_id=f"{BASE}/model/clip", name="CLIP-ViT-H-14-laion2B-s32B-b79K", version="1.0",
        download_location="https://huggingface.co/laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        package_url=CLIP_PURL)
    # imagenet-1k is only testedOn: not training data.
    assert [dataset.name for dataset in clip.datasets] == ["laion2B-en", "relaion2B-en-research-safe"]
    assert clip.datasets[0] == SpdxPackage(
        spdx_id=f"{BASE}/dataset/laion2b-en", name="laion2B-en", version="2022-03",
        download_location="https://huggingface.co/datasets/laion/laion2B-en", package_url=None)
    assert clip.datasets[1].package_url == "pkg:generic/relaion2B-en-research-safe@7f4b5c1e"
    assert products.model.spdx_id == f"{BASE}/model/clip-products"
    assert products.model.package_url is None
    assert [dataset.spdx_id for dataset in products.datasets] == [f"{BASE}/dataset/products"]


def test_a_dataset_package_gives_its_hub_repository_id_or_its_name_and_version_as_the_ref_to_map():
    clip, products = read_spdx3(json.dumps(_spdx_document()), source="clip.spdx3.json")

    # A Hub download location gives the repository id; a /tree/<revision> one adds the revision.
    assert [dataset.ref for dataset in clip.datasets] == ["laion/laion2B-en",
                                                          "laion/relaion2B-en-research-safe@7f4b5c1e"]
    # Elsewhere: the package's name and version.
    assert products.datasets[0].ref == "product-photos@3"


def test_relationships_naming_the_same_model_twice_are_merged_without_repeats():
    document = _spdx_document()
    document["@graph"].append({
        "type": "Relationship", "spdxId": f"{BASE}/rel/clip-trained-on-again", "creationInfo": "_:creationinfo",
        "relationshipType": "trainedOn", "from": f"{BASE}/model/clip",
        "to": f"{BASE}/dataset/relaion"})  # a single id, not a list

    trained = read_spdx3(json.dumps(document), source="clip.spdx3.json")

    assert len(trained) == 2
    assert [dataset.name for dataset in trained[0].datasets] == ["laion2B-en", "relaion2B-en-research-safe"]


def test_the_3_0_0_context_is_read_too():
    document = _spdx_document()
    document["@context"] = "https://spdx.org/rdf/3.0.0/spdx-context.jsonld"

    assert len(read_spdx3(json.dumps(document), source="clip.spdx3.json")) == 2


def test_a_file_that_is_not_json_is_refused_with_its_line():
    with pytest.raises(TakedownError, match=r"^clip\.spdx3\.json line 2 column 1: not JSON"):
        read_spdx3('{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",\n}', source="clip.spdx3.json")


def test_bytes_that_are_not_utf8_are_refused():
    with pytest.raises(TakedownError, match=r"^clip\.spdx3\.json: not UTF-8 text"):
        read_spdx3(b'{"\xff"}', source="clip.spdx3.json")


@pytest.mark.parametrize("document, message", [
    ([], "not an SPDX 3 document"),
    ({"@graph": []}, "not an SPDX 3.0 document (its @context must be"),
    ({"@context": "https://spdx.org/rdf/2.3/spdx-context.jsonld", "@graph": []}, "not an SPDX 3.0 document"),
    ({"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"}, "no @graph"),
    ({"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": {}}, "no @graph"),
])
def test_a_document_that_is_not_spdx_3_is_refused(document, message):
    with pytest.raises(TakedownError) as caught:
        read_spdx3(json.dumps(document), source="bom.json")

    assert str(caught.value).startswith(f"bom.json: {message}")


def test_a_relationship_to_an_element_not_in_the_graph_is_refused_naming_both():
    document = _spdx_document()
    _graph_element(document, f"{BASE}/rel/clip-trained-on")["to"].append(f"{BASE}/dataset/coyo")

    with pytest.raises(TakedownError) as caught:
        read_spdx3(json.dumps(document), source="clip.spdx3.json")

    assert str(caught.value) == (f"clip.spdx3.json: relationship {BASE}/rel/clip-trained-on: to: "
                                 f"'{BASE}/dataset/coyo' is not an element of the @graph")


def test_a_relationship_from_a_missing_model_is_refused():
    document = _spdx_document()
    _graph_element(document, f"{BASE}/rel/clip-trained-on")["from"] = f"{BASE}/model/gone"

    with pytest.raises(TakedownError, match=f"relationship {BASE}/rel/clip-trained-on: from: '{BASE}/model/gone' "
                                            "is not an element of the @graph"):
        read_spdx3(json.dumps(document), source="clip.spdx3.json")


def test_trained_on_from_something_not_an_ai_package_or_to_something_not_a_dataset_is_refused():
    document = _spdx_document()
    _graph_element(document, f"{BASE}/rel/clip-trained-on")["to"] = [f"{BASE}/licence/mit"]
    with pytest.raises(TakedownError) as caught:
        read_spdx3(json.dumps(document), source="clip.spdx3.json")
    assert str(caught.value).endswith(
        f"to: '{BASE}/licence/mit' is a simplelicensing_LicenseExpression, not a dataset_DatasetPackage")

    document = _spdx_document()
    _graph_element(document, f"{BASE}/rel/clip-trained-on")["from"] = f"{BASE}/dataset/imagenet"
    with pytest.raises(TakedownError) as caught:
        read_spdx3(json.dumps(document), source="clip.spdx3.json")
    assert str(caught.value).endswith(f"from: '{BASE}/dataset/imagenet' is a dataset_DatasetPackage, "
                                      "not a ai_AIPackage")


def test_a_trained_on_relationship_without_targets_is_refused():
    document = _spdx_document()
    _graph_element(document, f"{BASE}/rel/products-trained-on")["to"] = []

    with pytest.raises(TakedownError, match=f"relationship {BASE}/rel/products-trained-on: to: must list"):
        read_spdx3(json.dumps(document), source="clip.spdx3.json")


def test_a_document_with_no_trained_on_is_refused():
    document = _spdx_document()
    document["@graph"] = [element for element in document["@graph"]
                          if element.get("relationshipType") != "trainedOn"]

    with pytest.raises(TakedownError, match=r"^clip\.spdx3\.json: no trainedOn relationship"):
        read_spdx3(json.dumps(document), source="clip.spdx3.json")


def test_a_control_character_in_an_element_is_refused_naming_where():
    document = _spdx_document()
    _graph_element(document, f"{BASE}/dataset/laion2b-en")["name"] = "laion2B\x00-en"

    with pytest.raises(TakedownError, match=r"^clip\.spdx3\.json: @graph\[5\]\.name: contains a control character"):
        read_spdx3(json.dumps(document), source="clip.spdx3.json")


def test_deeply_nested_json_is_refused_not_a_crash():
    with pytest.raises(TakedownError, match="nested"):
        read_spdx3("[" * 100_000 + "]" * 100_000, source="clip.spdx3.json")


def test_a_document_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setattr(cards, "MAX_SPDX_BYTES", 1000)
    data = json.dumps(_spdx_document()).encode()

    with pytest.raises(TakedownError, match=r"^clip\.spdx3\.json: more than an SPDX document may have \(1,000 bytes"):
        read_spdx3(data, source="clip.spdx3.json")


def test_reading_does_not_change_the_document_it_is_given():
    document = _spdx_document()
    before = copy.deepcopy(document)

    read_spdx3(json.dumps(document), source="clip.spdx3.json")

    assert document == before


# --- Mapping to releases -----------------------------------------------------------------------------------------

MAPPING = {
    "laion/laion2B-en": "laion2b-en/2022-03",
    "laion/relaion2B-en-research-safe": "relaion2b-en/2024-08",
    "laion/relaion2B-en-research-safe@7f4b5c1e": "relaion2b-en/2024-08-r1",
}


def test_refs_map_to_releases_and_the_rest_are_returned_as_unmapped():
    mapped, unmapped = dataset_refs_to_releases(
        ["laion/laion2B-en", "acme/product-photos", "LAION/LAION2B-EN", "laion/relaion2B-en-research-safe@7f4b5c1e",
         "laion/relaion2B-en-research-safe@main", "acme/product-photos", "imagenet-1k@2012"], MAPPING)

    # The Hub ignores case; a revision with its own entry maps there, another falls back to the repository's.
    assert mapped == ["laion2b-en/2022-03", "relaion2b-en/2024-08-r1", "relaion2b-en/2024-08"]
    assert unmapped == ["acme/product-photos", "imagenet-1k@2012"]


def test_nothing_to_map_gives_two_empty_lists():
    assert dataset_refs_to_releases([], MAPPING) == ([], [])
    assert dataset_refs_to_releases(["laion/laion2B-en"], {}) == ([], ["laion/laion2B-en"])


@pytest.mark.parametrize("release", ["laion2b-en", "laion2b-en/", "/2022-03", "a/b/c"])
def test_a_mapping_entry_that_is_not_dataset_slash_release_is_refused(release):
    with pytest.raises(TakedownError, match=f"takes 'laion/laion2B-en' to '{release}', which is not DATASET/RELEASE"):
        dataset_refs_to_releases(["acme/x"], {"laion/laion2B-en": release})


def test_a_card_and_an_spdx_document_end_in_the_same_releases():
    from_card = dataset_refs_to_releases(read_model_card(CLIP_CARD, source="README.md").datasets, MAPPING)
    clip = read_spdx3(json.dumps(_spdx_document()), source="clip.spdx3.json")[0]
    from_spdx = dataset_refs_to_releases([dataset.ref for dataset in clip.datasets], MAPPING)

    assert from_card == (["laion2b-en/2022-03", "relaion2b-en/2024-08"], [])
    assert from_spdx == (["laion2b-en/2022-03", "relaion2b-en/2024-08-r1"], [])
