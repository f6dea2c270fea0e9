"""Reading CSV files whose header names their columns: one reader for every list staff and flaggers send.

A file is read whole before anything is written: every bad line is named by
its number (up to MAX_REPORTED_ERRORS), and one bad line fails the file. Every
field is checked as apps.core.validation says: no control character or lone
surrogate, at most validation.MAX_FIELD_CHARS characters.
"""
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from apps.core import validation
from apps.core.errors import TakedownError

MAX_REPORTED_ERRORS = 50
T = TypeVar("T")


def bad_lines(where: str, errors: list[str], *, noun: str = "line", outcome: str = "nothing was imported"
              ) -> TakedownError:
    """The one error for a file with bad lines: how many, what happened (nothing), each line named."""
    shown = errors[:MAX_REPORTED_ERRORS]
    if len(errors) > len(shown):
        shown.append(f"... and {len(errors) - len(shown)} more")
    plural = "s" if len(errors) > 1 else ""
    return TakedownError(f"{where}: {len(errors)} bad {noun}{plural}, {outcome}", details=shown)


def decode(data: bytes | str, *, source_name: str) -> str:
    """UTF-8 text of a file (a byte-order mark is dropped)."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TakedownError(f"{source_name}: not UTF-8 text (byte {exc.start})") from None


def read_keyed_csv(data: bytes | str, *, columns: tuple[str, ...], parse: Callable[[dict[str, str]], T],
                   source_name: str = "file", outcome: str = "nothing was imported") -> list[tuple[int, T]]:
    """(line, parse(row)) for every non-blank row of a CSV whose first non-blank line names `columns`.

    Column names are matched case-insensitively; other named columns are
    ignored. A row with more or fewer fields than the header is a bad line, and
    so is one with a refused field (validation.check_fields) or one `parse`
    refuses with a ValueError (its message says why).
    """
    reader = csv.reader(io.StringIO(decode(data, source_name=source_name), newline=""))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise TakedownError(f"{source_name}: empty file (expected a header line '{','.join(columns)}')")
        try:
            validation.check_fields(header, names=[])
        except validation.InvalidInput as exc:
            raise TakedownError(f"{source_name} line {reader.line_num} (the header): {exc}") from None
        names = [cell.strip().lower() for cell in header]
        if any(column not in names for column in columns):
            raise TakedownError(f"{source_name} line {reader.line_num}: header must name the column"
                                f"{'s' if len(columns) > 1 else ''} {' and '.join(columns)}, got {','.join(names)!r}")
        at = {column: names.index(column) for column in columns}
        rows: list[tuple[int, T]] = []
        errors: list[str] = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(names):
                errors.append(f"line {line}: {len(row)} fields, but the header names only {len(names)}")
                continue
            if len(row) < len(names):
                errors.append(f"line {line}: {len(row)} field{'s' if len(row) > 1 else ''}, but the header names "
                              f"{len(names)}")
                continue
            try:
                validation.check_fields(row, names=names)
                rows.append((line, parse({column: row[index] for column, index in at.items()})))
            except ValueError as exc:
                errors.append(f"line {line}: {exc}")
    except csv.Error as exc:
        raise TakedownError(f"{source_name} line {reader.line_num}: {_csv_problem(exc)}, {outcome}") from None
    if errors:
        raise bad_lines(source_name, errors, outcome=outcome)
    return rows


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a field is longer than {validation.MAX_FIELD_CHARS:,} characters"
    return f"not readable as CSV ({exc})"


def rows_of(data: str) -> int | None:
    """Non-blank CSV rows of a text, header included; None when it is not readable as CSV (read_keyed_csv says
    why)."""
    try:
        return sum(1 for row in csv.reader(io.StringIO(data, newline="")) if any(cell.strip() for cell in row))
    except csv.Error:
        return None


def read_file(path: str | Path) -> bytes:
    """A file's bytes, with an error naming the file when it cannot be read."""
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TakedownError(f"{path}: cannot read ({exc.strerror})") from None
