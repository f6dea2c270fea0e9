"""Identifier kinds, and how their values are validated and normalised.

One module decides what a URL, key or hash "is", so removal files, dataset
ingest and the matcher always compare like with like.
"""
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from apps.core import validation
from apps.core.csvfiles import read_file, read_keyed_csv
from apps.core.errors import TakedownError

URL = "url"
KEY = "key"
MD5 = "md5"
SHA1 = "sha1"
SHA256 = "sha256"
PDQ = "pdq"
DOMAIN = "domain"
URL_PREFIX = "url_prefix"

KINDS = (URL, KEY, MD5, SHA1, SHA256, PDQ, DOMAIN, URL_PREFIX)
HASH_KINDS = (MD5, SHA1, SHA256)
HEX_LENGTHS = {MD5: 32, SHA1: 40, SHA256: 64, PDQ: 64}
KIND_CHOICES = [
    (URL, "URL"),
    (KEY, "Sample key"),
    (MD5, "MD5"),
    (SHA1, "SHA-1"),
    (SHA256, "SHA-256"),
    (PDQ, "PDQ"),
    (DOMAIN, "Domain (and its subdomains)"),
    (URL_PREFIX, "URL prefix"),
]

_HEX = re.compile(r"^[0-9a-f]+$")
_KEY = re.compile(r"^[A-Za-z0-9._:/-]{1,256}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_KIND_SPELLINGS = {kind.replace("_", ""): kind for kind in KINDS}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8192


class InvalidIdentifier(validation.InvalidInput):
    """A value that is not a valid identifier of its kind; the message says why."""


def parse_kind(raw: str) -> str:
    """Return the canonical kind for a user-typed kind ('SHA-256' -> 'sha256')."""
    kind = _KIND_SPELLINGS.get(raw.strip().lower().replace("-", "").replace("_", ""))
    if kind is None:
        raise InvalidIdentifier(f"unknown kind {raw.strip()!r} (expected one of: {', '.join(KINDS)})")
    return kind


def normalise(kind: str, raw: str) -> str:
    """Validate a value of the given kind and return its canonical form.

    A control character or lone surrogate anywhere (validation.text_problem) is
    refused, not stripped: only leading and trailing spaces are.
    """
    problem = validation.text_problem(raw)
    if problem:
        raise InvalidIdentifier(f"{kind} value {problem}")
    value = raw.strip()
    if not value:
        raise InvalidIdentifier(f"empty {kind} value")
    if kind in HEX_LENGTHS:
        return _normalise_hex(kind, value)
    if kind in (URL, URL_PREFIX):
        return _normalise_url_strict(value)
    if kind == DOMAIN:
        return _normalise_domain(value)
    if kind == KEY:
        if not _KEY.match(value):
            raise InvalidIdentifier(
                f"key {value[:80]!r} is not a sample key (letters, digits and . _ : / - only, at most 256)"
            )
        return value
    raise InvalidIdentifier(f"unknown kind {kind!r}")


def _normalise_hex(kind: str, value: str) -> str:
    value = value.lower()
    if value.startswith("0x"):
        value = value[2:]
    expected = HEX_LENGTHS[kind]
    if not _HEX.match(value):
        raise InvalidIdentifier(f"{kind} {value[:80]!r} is not hexadecimal")
    if len(value) != expected:
        raise InvalidIdentifier(f"{kind} must be {expected} hex characters, got {len(value)}")
    return value


def normalise_hex_or_none(kind: str, value) -> str | None:
    """Hash column values from dataset files: None for missing, canonical hex otherwise."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.hex()
    value = str(value).strip()
    if not value:
        return None
    return _normalise_hex(kind, value)


def _normalise_percent(part: str) -> str:
    def fix(match: re.Match) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT.sub(fix, part)


def _host(hostname: str) -> str:
    host = hostname.lower().rstrip(".") if hostname != "." else hostname
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def normalise_url(url: str) -> str:
    """Canonical form of a URL, conservatively: what any client would fetch the same.

    Lower-cases scheme and host (IDNA-encoded), drops the default port and the
    fragment, gives http(s) an explicit "/" path, and normalises percent-escapes
    (upper-case hex, unreserved characters decoded). Path case, query order and
    trailing slashes are kept: servers may treat them differently. Never raises:
    a dataset's malformed URL is kept as it is, trimmed, and so is one with a
    control character (urlsplit would drop some, making it another URL).
    """
    url = url.strip()
    if validation.text_problem(url):
        return url
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if not scheme or not parts.netloc:
            return url
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        else:
            host = _host(host)
        port = parts.port
    except ValueError:
        return url
    netloc = host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    path = _normalise_percent(parts.path)
    if not path and scheme in _DEFAULT_PORTS:
        path = "/"
    query = _normalise_percent(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _normalise_url_strict(value: str) -> str:
    if len(value) > MAX_URL_LENGTH:
        raise InvalidIdentifier(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() for ch in value):
        raise InvalidIdentifier(f"URL {value[:80]!r} contains whitespace")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidIdentifier(f"URL {value[:80]!r} is malformed: {exc}") from None
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise InvalidIdentifier(f"URL {value[:80]!r} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidIdentifier(f"URL {value[:80]!r} has no host")
    return normalise_url(value)


def _normalise_domain(value: str) -> str:
    host = value.lower().removeprefix("*.").rstrip(".")
    if "://" in host or "/" in host:
        raise InvalidIdentifier(f"domain {value[:80]!r} must be a host name like example.com, not a URL")
    host = _host(host)
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels) or len(host) > 253:
        raise InvalidIdentifier(f"domain {value[:80]!r} is not a valid host name")
    return host


def host_suffixes(host: str) -> list[str]:
    """The names a domain opt-out can use for a host: itself and its parents of two labels or more."""
    if not host or host.startswith("[") or host.replace(".", "").isdigit():
        return [host] if host else []
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(max(1, len(labels) - 1))]


# ---------------------------------------------------------------- removal files


@dataclass(frozen=True)
class ParsedIdentifier:
    line: int | None
    kind: str
    value: str


def _parse_row(row: dict[str, str]) -> tuple[str, str]:
    kind = parse_kind(row["kind"])
    return kind, normalise(kind, row["value"])


def parse_identifiers_csv(data: bytes | str, *, source_name: str = "file") -> list[ParsedIdentifier]:
    """Validate and normalise every line of a `kind,value` CSV (csvfiles.read_keyed_csv).

    Any bad line makes the whole file fail, with every bad line named, so
    nothing is half-imported. Blank lines are skipped and repeats of an
    identifier are kept once, at their first line.
    """
    parsed: list[ParsedIdentifier] = []
    seen: set[tuple[str, str]] = set()
    for line, (kind, value) in read_keyed_csv(data, columns=("kind", "value"), parse=_parse_row,
                                              source_name=source_name):
        if (kind, value) not in seen:
            seen.add((kind, value))
            parsed.append(ParsedIdentifier(line=line, kind=kind, value=value))
    if not parsed:
        raise TakedownError(f"{source_name}: no identifiers after the header")
    return parsed


def read_identifiers_file(path: str | Path) -> list[ParsedIdentifier]:
    """parse_identifiers_csv on a file, with errors naming the file."""
    return parse_identifiers_csv(read_file(path), source_name=Path(path).name)
