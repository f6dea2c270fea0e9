"""Reading request bodies: every JSON body checked alike, and bulk identifier bodies (JSON or CSV) far beyond
Django's upload limit, every item validated.

Every JSON body of the API goes through CheckedJSONParser (the default parser)
or JSONBodyParser (the bulk endpoints): nesting beyond
validation.MAX_JSON_DEPTH, a lone surrogate or a control character in any
string is a 400 naming the place. The bulk approach is the match preview API's
(apps.matching.api.views), shared so the other bulk endpoints read bodies the
same way. A body over MAX_BODY_BYTES is refused with 413; a bad identifier
fails the whole request with each one named (`index N: ...` for JSON, `line N:
...` for CSV), so nothing is half-written.
"""
import io

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, JSONParser

from apps.core import identifiers, validation
from apps.core.csvfiles import bad_lines, rows_of
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier, parse_identifiers_csv

# 100,000 identifiers do not fit Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), which DRF's JSONParser
# enforces; these parsers read up to this limit instead.
MAX_BODY_BYTES = 64 * 1024 * 1024


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def _read_body(stream, parser_context, limit: int) -> bytes:
    request = (parser_context or {}).get("request")
    declared = str(request.META.get("CONTENT_LENGTH") or "0") if request is not None else "0"
    too_big = declared.isdigit() and int(declared) > limit
    data = stream.read(limit + 1) if stream is not None and not too_big else b""
    if too_big or len(data) > limit:
        raise BodyTooLarge(f"the request body is larger than {limit // 2**20} MiB: "
                           "split the identifiers over several requests")
    return data


def _parse_checked(parse):
    """The JSON that `parse()` reads, checked by validation.check_json; ParseError (a 400) names what is wrong."""
    try:
        data = parse()
    except RecursionError:  # far deeper than MAX_JSON_DEPTH: the parser itself gave up
        raise ParseError(f"JSON body: nested deeper than {validation.MAX_JSON_DEPTH} levels") from None
    try:
        validation.check_json(data, where="")
    except validation.InvalidInput as exc:
        raise ParseError(f"JSON body: {exc}") from None
    return data


class CheckedJSONParser(JSONParser):
    """DRF's JSONParser (bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE), then validation.check_json."""

    def parse(self, stream, media_type=None, parser_context=None):
        return _parse_checked(lambda: super(CheckedJSONParser, self).parse(stream, media_type, parser_context))


class JSONBodyParser(BaseParser):
    """application/json as CheckedJSONParser reads it, up to `max_bytes`."""

    media_type = JSONParser.media_type
    max_bytes = MAX_BODY_BYTES

    def parse(self, stream, media_type=None, parser_context=None):
        data = _read_body(stream, parser_context, self.max_bytes)
        return _parse_checked(lambda: JSONParser().parse(io.BytesIO(data), media_type, parser_context))


class CSVParser(BaseParser):
    """text/csv, up to `max_bytes`, handed on undecoded (UTF-8) for apps.core.identifiers to decode and validate."""

    media_type = "text/csv"
    max_bytes = MAX_BODY_BYTES

    def parse(self, stream, media_type=None, parser_context=None):
        data = _read_body(stream, parser_context, self.max_bytes)
        charset = _charset(media_type)
        if charset and charset.replace("_", "-") not in ("utf-8", "utf8"):
            try:
                return data.decode(charset)
            except (LookupError, UnicodeDecodeError) as exc:
                raise ParseError(f"CSV body is not {charset} text: {exc}") from None
        return data


def _charset(media_type: str | None) -> str:
    for param in (media_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return ""


def media_type_of(request) -> str:
    """The request's content type without parameters, lower-cased."""
    return (request.content_type or "").split(";")[0].strip().lower()


def too_many(count: int, limit: int) -> TakedownError:
    return TakedownError(f"too many identifiers: {count:,} (at most {limit:,} per request; split the list)")


def identifiers_from_json(raw, *, limit: int, outcome: str = "nothing was written",
                          dedupe: bool = True) -> list[ParsedIdentifier]:
    """Validate and normalise a JSON list of {kind, value} objects (ParsedIdentifier.line is None).

    Every bad item is named by its index (up to csvfiles.MAX_REPORTED_ERRORS). With
    `dedupe`, an identifier repeated in the list is kept once, at its first index.
    """
    if not isinstance(raw, list):
        raise TakedownError("identifiers: expected a list of {kind, value} objects")
    if len(raw) > limit:
        raise too_many(len(raw), limit)
    if not raw:
        raise TakedownError("identifiers: the list is empty")
    parsed: list[ParsedIdentifier] = []
    seen: set[tuple[str, str]] = set()
    errors: list[str] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str) \
                or not isinstance(entry.get("value"), str):
            errors.append(f"index {index}: expected an object with string fields kind and value")
            continue
        try:
            kind = identifiers.parse_kind(entry["kind"])
            value = identifiers.normalise(kind, entry["value"])
        except identifiers.InvalidIdentifier as exc:
            errors.append(f"index {index}: {exc}")
            continue
        if dedupe:
            if (kind, value) in seen:
                continue
            seen.add((kind, value))
        parsed.append(ParsedIdentifier(line=None, kind=kind, value=value))
    if errors:
        raise bad_lines("identifiers", errors, noun="identifier", outcome=outcome)
    return parsed


def identifiers_from_csv(data: bytes | str, *, limit: int) -> list[ParsedIdentifier]:
    """Validate and normalise a `kind,value` CSV body (parse_identifiers_csv), at most `limit` identifiers.

    An oversized file is refused before its lines are validated.
    """
    newline = b"\n" if isinstance(data, bytes) else "\n"
    if data.count(newline) > limit:
        rows = _csv_rows(data)
        if rows is not None and rows - 1 > limit:
            raise too_many(rows - 1, limit)
    parsed = parse_identifiers_csv(data, source_name="CSV body")
    if len(parsed) > limit:
        raise too_many(len(parsed), limit)
    return parsed


def _csv_rows(data: bytes | str) -> int | None:
    """Non-blank CSV rows, header included; None when the text cannot be decoded or read (the parser says why)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
    return rows_of(data)
