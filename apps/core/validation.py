"""What any input may hold, decided once for every entry point (APIs, forms, files, commands).

Text: no control character (NUL and the rest of C0, DEL, C1) and no lone
surrogate (it has no UTF-8 form; PostgreSQL cannot store NUL at all). Tab and
line breaks only in free text (notes, statements). JSON: nested at most
MAX_JSON_DEPTH deep. CSV: fields of at most MAX_FIELD_CHARS. Moments: not
before EARLIEST, not later than now plus MAX_CLOCK_SKEW.

A value is refused with a message naming the field and what is wrong (the
caller adds the line or index); it is never stripped or "cleaned" into another
value.
"""
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from apps.core.errors import TakedownError

MAX_JSON_DEPTH = 32
# The csv module's own limit (csv.field_size_limit(), left at its default): a longer field is refused with
# this number rather than csv's error.
MAX_FIELD_CHARS = 128 * 1024
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
MAX_CLOCK_SKEW = timedelta(minutes=5)
# A URL's path and query together: gunicorn refuses a request line over 4,094 bytes, so the product answers
# over-long URLs itself, the same behind any server (414, documented in the API schema).
MAX_URL_CHARS = 4000

_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_REFUSED_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMES = {0: "NUL", 7: "BEL", 8: "backspace", 9: "tab", 10: "line feed", 13: "carriage return", 27: "escape",
          127: "DEL"}


class InvalidInput(ValueError):
    """A value refused at the edge; the message names the field and says what is wrong."""


def _describe(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X}, half of a character)"
    name = _NAMES.get(code)
    return f"a control character (U+{code:04X}{' ' + name if name else ''})"


def text_problem(value: str, *, free_text: bool = False) -> str | None:
    """Why `value` is refused ('contains ... at character N'), or None when it is fine."""
    found = (_REFUSED_IN_FREE_TEXT if free_text else _REFUSED).search(value)
    if found is None:
        return None
    return f"contains {_describe(found.group())} at character {found.start() + 1}"


def check_text(value: str, *, field: str, free_text: bool = False) -> str:
    """`value` unchanged, or InvalidInput naming `field` when it holds a refused character.

    `free_text` (notes, statements) allows tab, line feed and carriage return.
    """
    problem = text_problem(value, free_text=free_text)
    if problem:
        raise InvalidInput(f"{field}: {problem}")
    return value


def check_fields(values: Iterable[str], *, names: list[str]) -> None:
    """check_text on one row of fields, each named by its column (or its position past the named ones)."""
    for position, value in enumerate(values):
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(f"{_column(names, position)}: longer than {MAX_FIELD_CHARS:,} characters")
        check_text(value, field=_column(names, position))


def _column(names: list[str], position: int) -> str:
    return f"column {names[position]}" if position < len(names) and names[position] else f"field {position + 1}"


def check_json(data, *, where: str = "body") -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH, and strings (keys too) with a refused character.

    Strings are free text here (a field that must be one line says so itself);
    the message names the place, e.g. `identifiers[3].value`.
    """
    # Iterative, so that no nesting exhausts the stack; a place's name is built only for the message.
    stack: list[tuple[object, tuple, int]] = [(data, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidInput(f"{_place(where, path)}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and (problem := text_problem(key, free_text=True)):
                    raise InvalidInput(f"{_place(where, path)}: a key {problem}")
                stack.append((item, (path, key), depth + 1))
        elif isinstance(value, str) and (problem := text_problem(value, free_text=True)):
            raise InvalidInput(f"{_place(where, path)}: {problem}")


def _place(where: str, path: tuple) -> str:
    keys = []
    while path:
        path, key = path
        keys.append(key)
    name = where
    for key in reversed(keys):
        name += f"[{key}]" if isinstance(key, int) else (f".{key}" if name else key)
    return name


def sane_moment(value: datetime | None, *, field: str) -> datetime | None:
    """check_moment for services: a TakedownError instead of InvalidInput."""
    try:
        return check_moment(value, field=field)
    except InvalidInput as exc:
        raise TakedownError(str(exc)) from None


def check_moment(value: datetime | None, *, field: str) -> datetime | None:
    """`value` unchanged (None too), or InvalidInput when it is before EARLIEST or after now + MAX_CLOCK_SKEW."""
    if value is None:
        return None
    if timezone.is_naive(value):
        raise InvalidInput(f"{field}: give a time zone (e.g. 2024-05-01T12:00:00Z)")
    if value > timezone.now() + MAX_CLOCK_SKEW:
        raise InvalidInput(f"{field}: {value.isoformat()} is in the future")
    if value < EARLIEST:
        raise InvalidInput(f"{field}: {value.isoformat()} is before {EARLIEST:%Y-%m-%d}")
    return value
