"""What a model says it was trained on: a Hugging Face model card, an SPDX 3 document, and the mapping to releases.

Pure functions (no database), so that the registry, the API and the command share them and they can be tested
alone. A file that cannot be read is refused whole with a TakedownError naming the source (its file name) and what
is wrong (the line of a YAML error, the element of an SPDX document); nothing is guessed.

- A model card is the repository's README.md: YAML front matter between `---` lines at the very start. `datasets:`
  (Hub dataset repository ids, `laion/laion2B-en`) and `base_model:` are read, each a string or a list
  (https://huggingface.co/docs/hub/model-cards). The Hub has no place for a dataset's revision; `repo@revision` is
  accepted all the same, for hosts that map one revision of a repository to one release.
- An SPDX 3.0 JSON-LD document: `Relationship` elements of type `trainedOn` from an `ai_AIPackage` to
  `dataset_DatasetPackage` elements (the AI and Dataset profiles); `testedOn` is not training and is ignored.
- A dataset reference becomes a Takedown release (`DATASET/RELEASE`) only through a mapping the host keeps.
"""
import json
import re
from dataclasses import dataclass, field

import yaml

from apps.core import validation
from apps.core.csvfiles import decode
from apps.core.errors import TakedownError

# A model card is a page of text; a larger file is not one (and YAML is slow on megabytes).
MAX_CARD_BYTES = 1024 * 1024
# An SPDX document describing a whole application with its files can be large, but not this large.
MAX_SPDX_BYTES = 16 * 1024 * 1024
# Real cards use no YAML aliases at all. n aliases can expand a document at most about e**(n/e) times (levels of
# about three aliases each): 20 allow some 1,600 times, while the "billion laughs" needs 90.
MAX_YAML_ALIASES = 20

# A Hub repository id: an optional namespace, a name (letters, digits, '.', '_', '-'), at most 96 characters
# each; then, ours only, an optional @revision (a branch, tag or commit).
_REPO_ID = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
                      r"(?:@[A-Za-z0-9._/-]{1,200})?")
_SPDX_CONTEXT = re.compile(r"https://spdx\.org/rdf/3\.0\.\d+/spdx-context\.jsonld")
_AI_PACKAGE = {"ai_AIPackage", "AIPackage"}
_DATASET_PACKAGE = {"dataset_DatasetPackage", "DatasetPackage"}
_RELATIONSHIP = {"Relationship", "LifecycleScopedRelationship"}
_HUB_DATASET_URL = re.compile(
    r"https://huggingface\.co/datasets/([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(?:/(?:tree|resolve|blob)/([A-Za-z0-9._-]+))?/?(?:[/?#].*)?")


@dataclass(frozen=True)
class ModelCardInfo:
    """What a model card's front matter says: datasets and base models in the card's order, without repeats."""

    datasets: list[str] = field(default_factory=list)
    base_models: list[str] = field(default_factory=list)
    base_model_relation: str | None = None  # finetune, adapter, merge, quantized (the Hub's words)
    name: str | None = None
    license: str | None = None


@dataclass(frozen=True)
class SpdxPackage:
    """An ai_AIPackage or dataset_DatasetPackage element of an SPDX document (None where the element says nothing)."""

    spdx_id: str
    name: str | None = None
    version: str | None = None  # software_packageVersion
    download_location: str | None = None  # software_downloadLocation
    package_url: str | None = None  # software_packageUrl

    @property
    def ref(self) -> str:
        """The dataset reference to map to a release: the Hub repository id (`org/name@revision` when the download
        location names a revision) for a Hub download location, else the name (`name@version` with a version)."""
        hub = _HUB_DATASET_URL.fullmatch(self.download_location or "")
        if hub:
            return hub.group(1) + (f"@{hub.group(2)}" if hub.group(2) else "")
        base = self.name or self.spdx_id
        return f"{base}@{self.version}" if self.version else base


@dataclass(frozen=True)
class TrainedOn:
    """One model of an SPDX document and the datasets it was trained on (document order, without repeats)."""

    model: SpdxPackage
    datasets: list[SpdxPackage]


# --- Hugging Face model cards -------------------------------------------------------------------------------------

class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader (plain data, no tags that build objects) that refuses more than MAX_YAML_ALIASES aliases."""

    def __init__(self, stream):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise _TooManyAliases(self.peek_event().start_mark)
        return super().compose_node(parent, index)


class _TooManyAliases(yaml.YAMLError):
    def __init__(self, mark):
        super().__init__()
        self.mark = mark


def read_model_card(text: bytes | str, *, source: str) -> ModelCardInfo:
    """Read the training data a Hugging Face model card (README.md) names in its YAML front matter.

    Refused (TakedownError naming `source`): over MAX_CARD_BYTES, no front matter, a YAML error (with the file's
    line), more than MAX_YAML_ALIASES aliases, front matter that is not a mapping, `datasets:` or `base_model:`
    that is not a repository id or a list of them, and a card that names neither (nothing to register).
    """
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CARD_BYTES:
        raise TakedownError(f"{source}: {size:,} bytes, more than a model card may have ({MAX_CARD_BYTES:,})")
    text = decode(text, source_name=source)
    front, first_line = _front_matter(text, source=source)
    try:
        meta = yaml.load(front, Loader=_BoundedLoader)
    except _TooManyAliases as exc:
        raise TakedownError(f"{source} line {first_line + exc.mark.line}: the front matter uses more than "
                            f"{MAX_YAML_ALIASES} YAML aliases (*name), refused (a model card needs none)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {first_line + mark.line}" if mark else ""
        raise TakedownError(f"{source}{line}: the front matter is not valid YAML ({exc.problem or exc.context})"
                            ) from None
    except yaml.reader.ReaderError as exc:
        line = first_line + front.count("\n", 0, exc.position)
        raise TakedownError(f"{source} line {line}: the front matter holds a character YAML refuses "
                            f"(U+{exc.character:04X})") from None
    except yaml.YAMLError as exc:
        raise TakedownError(f"{source}: the front matter is not valid YAML ({exc})") from None
    except RecursionError:
        raise TakedownError(f"{source}: the front matter is nested too deeply") from None
    if not isinstance(meta, dict):
        raise TakedownError(f"{source}: the front matter must be a mapping (datasets: ..., base_model: ...), "
                            f"not {_kind(meta)}")
    datasets = _repo_ids(meta.get("datasets"), key="datasets", source=source)
    base_models = _repo_ids(meta.get("base_model"), key="base_model", source=source)
    if not datasets and not base_models:
        raise TakedownError(f"{source}: the front matter names no datasets: and no base_model:, so it does not say "
                            "what the model was trained on")
    relation = _optional_text(meta.get("base_model_relation"), key="base_model_relation", source=source)
    return ModelCardInfo(
        datasets=datasets, base_models=base_models, base_model_relation=relation,
        name=_card_name(meta, source=source),
        license=_optional_text(meta.get("license"), key="license", source=source))


def _front_matter(text: str, *, source: str) -> tuple[str, int]:
    """The YAML between the opening and closing `---` lines, and the file line its first line is on."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        raise TakedownError(f"{source}: no YAML front matter (the file must start with a '---' line, then "
                            "datasets: and base_model:, then a '---' line)")
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip() == "---":
            return "".join(lines[1:index]), 2
    raise TakedownError(f"{source}: the front matter opened on line 1 is never closed (no second '---' line)")


def _repo_ids(value, *, key: str, source: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise TakedownError(f"{source}: {key}: must be a repository id or a list of them, not {_kind(value)}")
    ids: dict[str, None] = {}
    for position, item in enumerate(items):
        where = key if isinstance(value, str) else f"{key}[{position}]"
        if not isinstance(item, str):
            raise TakedownError(f"{source}: {where}: must be a repository id (org/name), not {_kind(item)}")
        item = item.strip()
        if not _REPO_ID.fullmatch(item):
            raise TakedownError(f"{source}: {where}: {item[:200]!r} is not a repository id (org/name)")
        ids[item] = None
    return list(ids)


def _optional_text(value, *, key: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TakedownError(f"{source}: {key}: must be text, not {_kind(value)}")
    try:
        return validation.check_text(value.strip(), field=key) or None
    except validation.InvalidInput as exc:
        raise TakedownError(f"{source}: {exc}") from None


def _card_name(meta: dict, *, source: str) -> str | None:
    """model_name, else the first model-index entry's name: only a label, so an odd model-index is passed over."""
    if meta.get("model_name") is not None:
        return _optional_text(meta["model_name"], key="model_name", source=source)
    index = meta.get("model-index")
    if isinstance(index, list) and index and isinstance(index[0], dict) and isinstance(index[0].get("name"), str):
        return _optional_text(index[0]["name"], key="model-index[0].name", source=source)
    return None


def _kind(value) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


# --- SPDX 3 ------------------------------------------------------------------------------------------------------

def read_spdx3(data: bytes | str, *, source: str) -> list[TrainedOn]:
    """Each model of an SPDX 3.0 JSON-LD document and the datasets it was trained on (`trainedOn` relationships).

    Refused (TakedownError naming `source`, and the element where there is one): over MAX_SPDX_BYTES, not JSON,
    not an SPDX 3.0 document (its @context), no @graph, a trainedOn relationship whose `from` is not an
    ai_AIPackage or whose `to` is not a dataset_DatasetPackage, or that names an element not in the @graph
    (elements imported from other documents are not followed), and a document with no trainedOn at all.
    """
    if len(data) > MAX_SPDX_BYTES:
        raise TakedownError(f"{source}: more than an SPDX document may have ({MAX_SPDX_BYTES:,} bytes)")
    text = decode(data, source_name=source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TakedownError(f"{source} line {exc.lineno} column {exc.colno}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise TakedownError(f"{source}: not an SPDX document (JSON nested too deeply)") from None
    try:
        validation.check_json(document, where="")
    except validation.InvalidInput as exc:
        raise TakedownError(f"{source}: {exc}") from None
    if not isinstance(document, dict):
        raise TakedownError(f"{source}: not an SPDX 3 document (a JSON object with @context and @graph)")
    contexts = document.get("@context")
    contexts = contexts if isinstance(contexts, list) else [contexts]
    if not any(isinstance(context, str) and _SPDX_CONTEXT.fullmatch(context) for context in contexts):
        raise TakedownError(f"{source}: not an SPDX 3.0 document (its @context must be "
                            f"https://spdx.org/rdf/3.0.1/spdx-context.jsonld; it is {document.get('@context')!r:.200})")
    graph = document.get("@graph")
    if not isinstance(graph, list):
        raise TakedownError(f"{source}: no @graph (the list of the document's elements)")
    elements: dict[str, dict] = {}
    for element in graph:
        if isinstance(element, dict) and isinstance(_id(element), str):
            elements.setdefault(_id(element), element)
    models: dict[str, SpdxPackage] = {}
    trained: dict[str, dict[str, SpdxPackage]] = {}
    for position, element in enumerate(graph):
        if not isinstance(element, dict) or _type(element) not in _RELATIONSHIP:
            continue
        if element.get("relationshipType") != "trainedOn":
            continue
        name = f"relationship {_id(element) or f'@graph[{position}]'}"
        model = _end(elements, element.get("from"), expected=_AI_PACKAGE, side="from", where=name, source=source)
        targets = element.get("to")
        targets = [targets] if isinstance(targets, str) else targets
        if not isinstance(targets, list) or not targets:
            raise TakedownError(f"{source}: {name}: to: must list the datasets the model was trained on")
        models.setdefault(model.spdx_id, model)
        datasets = trained.setdefault(model.spdx_id, {})
        for target in targets:
            dataset = _end(elements, target, expected=_DATASET_PACKAGE, side="to", where=name, source=source)
            datasets.setdefault(dataset.spdx_id, dataset)
    if not trained:
        raise TakedownError(f"{source}: no trainedOn relationship (from an ai_AIPackage to dataset_DatasetPackage "
                            "elements), so it does not say what any model was trained on")
    return [TrainedOn(model=models[model_id], datasets=list(datasets.values()))
            for model_id, datasets in trained.items()]


def _end(elements: dict[str, dict], ref, *, expected: set[str], side: str, where: str, source: str) -> SpdxPackage:
    """The package at one end of a relationship, refused unless it is in the graph and of the expected type."""
    if not isinstance(ref, str):
        raise TakedownError(f"{source}: {where}: {side}: must be an element's spdxId, not {_kind(ref)}")
    element = elements.get(ref)
    if element is None:
        raise TakedownError(f"{source}: {where}: {side}: {ref[:300]!r} is not an element of the @graph")
    if _type(element) not in expected:
        wanted = sorted(expected)[-1]  # the prefixed 3.0.1 name: ai_AIPackage, dataset_DatasetPackage
        raise TakedownError(f"{source}: {where}: {side}: {ref[:300]!r} is a {str(_type(element))[:100]}, "
                            f"not a {wanted}")
    return SpdxPackage(spdx_id=ref, name=_text(element, "name"), version=_text(element, "software_packageVersion"),
                       download_location=_text(element, "software_downloadLocation"),
                       package_url=_text(element, "software_packageUrl"))


def _id(element: dict):
    return element.get("spdxId", element.get("@id"))


def _type(element: dict):
    return element.get("type", element.get("@type"))


def _text(element: dict, key: str) -> str | None:
    value = element.get(key)
    return value if isinstance(value, str) and value else None


# --- Mapping to releases -------------------------------------------------------------------------------------------

def dataset_refs_to_releases(refs: list[str], mapping: dict[str, str]) -> tuple[list[str], list[str]]:
    """(the releases `refs` map to, the refs that map to none), each in order and without repeats.

    A ref is a dataset repository id, optionally `repo@revision`; `mapping` takes refs to `DATASET/RELEASE`.
    A `repo@revision` ref maps by its own entry when the mapping has one, else by the repository's entry; ids
    are compared ignoring case, as the Hub does. A mapping value that is not DATASET/RELEASE is refused.
    """
    table: dict[str, str] = {}
    for key, release in mapping.items():
        dataset, _, name = str(release).partition("/")
        if not dataset or not name or "/" in name:
            raise TakedownError(f"the dataset mapping takes {key!r} to {release!r}, which is not DATASET/RELEASE")
        table[str(key).strip().casefold()] = release
    mapped: dict[str, None] = {}
    unmapped: dict[str, None] = {}
    for ref in refs:
        ref = ref.strip()
        release = table.get(ref.casefold()) or table.get(ref.partition("@")[0].casefold())
        if release:
            mapped[release] = None
        else:
            unmapped[ref] = None
    return list(mapped), list(unmapped)
