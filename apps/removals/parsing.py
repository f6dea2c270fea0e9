"""Reading removal files: CSV with a `kind,value` header, every line validated."""
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from apps.core import identifiers
from apps.core.errors import TakedownError

MAX_REPORTED_ERRORS = 50


@dataclass(frozen=True)
class ParsedIdentifier:
    line: int
    kind: str
    value: str


def parse_identifiers_csv(data: bytes | str, *, source_name: str = "file") -> list[ParsedIdentifier]:
    """Validate and normalise every line of a `kind,value` CSV.

    Any bad line makes the whole file fail, with every bad line named by number
    (up to 50), so nothing is half-imported. Blank lines are skipped and repeats
    of an identifier are kept once, at their first line.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TakedownError(f"{source_name}: not UTF-8 text (byte {exc.start})") from None
    else:
        text = data.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = None
    for row in reader:
        if any(cell.strip() for cell in row):
            header = [cell.strip().lower() for cell in row]
            break
    if header is None:
        raise TakedownError(f"{source_name}: empty file (expected a header line 'kind,value')")
    if "kind" not in header or "value" not in header:
        raise TakedownError(
            f"{source_name} line {reader.line_num}: header must name the columns kind and value, "
            f"got {','.join(header)!r}"
        )
    kind_at, value_at = header.index("kind"), header.index("value")
    parsed: list[ParsedIdentifier] = []
    seen: set[tuple[str, str]] = set()
    errors: list[str] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(kind_at, value_at):
            errors.append(f"line {line}: expected {len(header)} columns, got {len(row)}")
            continue
        try:
            kind = identifiers.parse_kind(row[kind_at])
            value = identifiers.normalise(kind, row[value_at])
        except identifiers.InvalidIdentifier as exc:
            errors.append(f"line {line}: {exc}")
            continue
        if (kind, value) in seen:
            continue
        seen.add((kind, value))
        parsed.append(ParsedIdentifier(line=line, kind=kind, value=value))
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        if more:
            shown.append(f"... and {more} more")
        raise TakedownError(
            f"{source_name}: {len(errors)} bad line{'s' if len(errors) > 1 else ''}, nothing was imported",
            details=shown,
        )
    if not parsed:
        raise TakedownError(f"{source_name}: no identifiers after the header")
    return parsed


def read_identifiers_file(path: str | Path) -> list[ParsedIdentifier]:
    """parse_identifiers_csv on a file, with errors naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TakedownError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_identifiers_csv(data, source_name=path.name)
