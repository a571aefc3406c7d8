"""CSV imports of relations, the pure part: which fields a column may fill, how a file's
header is read (delimiter, byte order mark), how each data row becomes relation fields
or an error that names the field, and the values a row is recognised by.

The field rules are the relation data steps' (`domain.relation_fields`): a standard
field by its name, any other name a custom field, read-only fields refused. A cell is
text, so yes/no and dates are read as spreadsheets write them (ja/nee, 31-12-1990)
before those rules check them. Opening files and writing relations happen in
`activities/imports.py` and `store/imports.py`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic_core import PydanticCustomError

from domain.conditions import fold_case
from domain.relation_fields import (
    MAX_CUSTOM_NAME,
    WRITABLE,
    Unfit,
    check_custom,
    check_name,
    fit,
    kind_of,
)

MAX_COLUMNS = 200
DELIMITERS = (",", ";", "\t")
BOM = b"\xef\xbb\xbf"

_TRUE = frozenset({"1", "true", "yes", "y", "ja", "j", "waar"})
_FALSE = frozenset({"0", "false", "no", "n", "nee", "onwaar"})
_FLAGS = frozenset({"opt_in_email", "opt_in_sms"})


class RowError(ValueError):
    """A cell that cannot fill its field; the message names the field, never the value."""


def _date(text: str) -> date:
    """ISO (1990-12-31) or as Dutch spreadsheets write it (31-12-1990, 31/12/1990)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    parts = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", text)
    if parts:
        day, month, year = (int(p) for p in parts.groups())
        try:
            return date(year, month, day)
        except ValueError:
            pass
    raise RowError("takes a date (1990-12-31 or 31-12-1990)")


def _flag(text: str) -> bool:
    folded = text.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise RowError("takes yes or no (ja/nee, yes/no, true/false, 1/0)")


def cell_value(field: str, text: str) -> Any:
    """The value a non-empty cell gives its field, or RowError (naming no value)."""
    if field in _FLAGS:
        return _flag(text)
    if field == "birth_date":
        return _date(text)
    try:
        return fit(field, text)
    except Unfit:
        raise RowError(f"takes {kind_of(field)}") from None


def is_custom(field: str) -> bool:
    return field not in WRITABLE


def field_problem(field: str) -> str | None:
    """Why `field` cannot be filled by an import, or None."""
    if not field or len(field) > MAX_CUSTOM_NAME:
        return f"a field name has 1 to {MAX_CUSTOM_NAME} characters"
    try:
        check_name(field)
    except PydanticCustomError as error:
        return error.message()
    return None


@dataclass(frozen=True)
class MappingProblem:
    """One thing wrong with a mapping; `where` is the setting it is about."""

    where: str  # "map" or "unique"
    message: str


def mapping_problems(mapping: Mapping[str, str], unique: Sequence[str]) -> list[MappingProblem]:
    """What is wrong with a column -> field mapping and its unique fields."""
    return [
        *(MappingProblem("map", m) for m in map_problems(mapping)),
        *(MappingProblem("unique", m) for m in unique_problems(mapping, unique)),
    ]


def map_problems(mapping: Mapping[str, str]) -> list[str]:
    """Unknown fields, empty column names, a field filled by two columns."""
    problems: list[str] = []
    if not mapping:
        problems.append("map at least one column to a field")
    if len(mapping) > MAX_COLUMNS:
        problems.append(f"at most {MAX_COLUMNS} columns")
    seen: dict[str, str] = {}
    for column, field in mapping.items():
        if not column.strip():
            problems.append(f"an empty column name for field '{field}'")
        problem = field_problem(field)
        if problem:
            problems.append(f"column '{column}': {problem}")
        elif field in seen:
            problems.append(
                f"field '{field}' is filled by two columns: '{seen[field]}', '{column}'"
            )
        else:
            seen[field] = column
    return problems


def unique_problems(mapping: Mapping[str, str], unique: Sequence[str]) -> list[str]:
    """Unique fields that no column fills, or that cannot recognise anybody."""
    mapped = set(mapping.values())
    problems: list[str] = []
    if not unique:
        problems.append("name at least one field that recognises an existing relation (email)")
    for field in unique:
        if field not in mapped:
            problems.append(f"unique field '{field}' is not among the mapped fields")
        elif field in _FLAGS:
            problems.append(f"'{field}' is yes or no: it cannot recognise a relation")
    if len(set(unique)) != len(unique):
        problems.append("a unique field is named twice")
    return problems


def parse_pairs(items: Iterable[str], separator: str) -> dict[str, str]:
    """`["E-mail:email", ...]` as {column: field}; a column name may itself hold the
    separator (split at the last one). Raises ValueError naming the bad item."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, field = item.rpartition(separator)
        if not sep or not column.strip() or not field.strip():
            raise ValueError(f"'{item}': write Column{separator}field")
        if column.strip() in mapping:
            raise ValueError(f"column '{column.strip()}' is mapped twice")
        mapping[column.strip()] = field.strip()
    return mapping


# --- reading the file ----------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One CSV record and where it ends in the file (bytes after the start of reading)."""

    cells: list[str]
    end: int
    utf8: bool  # every byte of it was valid UTF-8

    @property
    def blank(self) -> bool:
        return not any(cell.strip() for cell in self.cells)


def sniff_delimiter(header: str) -> str:
    """The delimiter among , ; and tab that the header line uses most outside quotes
    (Dutch Excel writes `;`). A one-column file has none: `,`."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def records(lines: Iterable[bytes], delimiter: str) -> Iterator[Record]:
    """The records of byte lines (each with its line ending, as a binary file yields
    them), with the byte position after each: a later batch starts reading there.

    The csv reader asks for a line only when the record it is reading needs one, so the
    lines handed out when it yields a record are exactly that record's lines."""
    consumed = 0
    valid = True

    def texts() -> Iterator[str]:
        nonlocal consumed, valid
        for raw in lines:
            consumed += len(raw)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                valid = False
                yield raw.decode("utf-8", "replace")

    # Strict: a quote left open must be an error, not a cell that silently swallows
    # every row after it.
    for cells in csv.reader(texts(), delimiter=delimiter, strict=True):
        yield Record(cells=cells, end=consumed, utf8=valid)
        valid = True


@dataclass(frozen=True)
class Header:
    columns: list[str]
    delimiter: str
    end: int  # where the data rows begin, in bytes from the start of the file


class HeaderError(ValueError):
    pass


def read_header(lines: Iterable[bytes]) -> Header:
    """The header of a file given as byte lines from its start: its first non-blank
    record, without a UTF-8 byte order mark."""
    iterator = iter(lines)
    skipped = 0
    for first in iterator:
        if first.strip():
            break
        skipped += len(first)
    else:
        raise HeaderError("the file is empty")
    bom = first.startswith(BOM)
    body = first[len(BOM) :] if bom else first
    try:
        delimiter = sniff_delimiter(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise HeaderError(
            "the header is not UTF-8: save the file as 'CSV UTF-8' (with or without BOM)"
        ) from None

    def rest() -> Iterator[bytes]:
        yield body
        yield from iterator

    if b"\r" in body.rstrip(b"\r\n") and b"\n" not in body.rstrip(b"\r\n"):
        raise HeaderError(
            "the file's lines end in CR only (Excel for Mac 'CSV (Macintosh)'): save it "
            "as 'CSV UTF-8'"
        )
    try:
        record = next(records(rest(), delimiter))
    except csv.Error as error:
        raise HeaderError(f"the header cannot be read as CSV: {error}") from None
    if not record.utf8:
        raise HeaderError("the header is not UTF-8: save the file as 'CSV UTF-8'")
    columns = [cell.strip() for cell in record.cells]
    if len(columns) > 10 * MAX_COLUMNS:
        raise HeaderError(f"the header has {len(columns)} columns; at most {10 * MAX_COLUMNS}")
    return Header(columns, delimiter, skipped + (len(BOM) if bom else 0) + record.end)


# --- one row ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A mapping checked against a file's header: the cell index of each field."""

    columns: dict[str, int]  # field -> index of its cell
    unique: tuple[str, ...]


def plan(header: Sequence[str], mapping: Mapping[str, str], unique: Sequence[str]) -> Plan:
    """Raises HeaderError naming the mapped columns the header lacks (or has twice)."""
    where: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        where.setdefault(name, []).append(index)
    missing = [c for c in mapping if c not in where]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        words = f"column {names} is" if len(missing) == 1 else f"columns {names} are"
        # The header's own cells are not repeated: in a file without a header they are
        # a person's data, and this message is kept with the job and shown in Temporal.
        raise HeaderError(f"{words} not in the file's header (its first line, {len(header)} cells)")
    twice = [c for c in mapping if len(where[c]) > 1]
    if twice:
        raise HeaderError(f"column '{twice[0]}' appears twice in the file's header")
    return Plan({field: where[column][0] for column, field in mapping.items()}, tuple(unique))


@dataclass(frozen=True)
class Row:
    """A data row made into fields (standard names and `custom.<name>`), or refused."""

    number: int
    fields: dict[str, Any]
    error: str | None = None

    def key(self, unique: Sequence[str]) -> tuple[tuple[str, Any], ...]:
        """The (field, normalised value) pairs that recognise the relation."""
        return tuple(sorted((f, normalised(f, self.fields[f])) for f in unique))


def normalised(field: str, value: Any) -> Any:
    """How a unique value is compared, as upsert_relation compares it
    (store/relation_writes.py): addresses lower-cased, custom text with ASCII letters
    lowered (conditions' rule), dates as ISO text, the rest as is."""
    if field == "email":
        return str(value).lower()
    if is_custom(field):
        return fold_case(str(value))
    if isinstance(value, date):
        return value.isoformat()
    return value


def convert(plan: Plan, number: int, record: Record) -> Row:
    """The row's fields; an empty cell leaves its field out (an update keeps the
    relation's value). The first bad cell makes the row invalid."""
    if not record.utf8:
        return Row(number, {}, "the row is not valid UTF-8")
    fields: dict[str, Any] = {}
    cells = record.cells
    for field, index in plan.columns.items():
        text = cells[index].strip() if index < len(cells) else ""
        if not text:
            continue
        try:
            fields[field] = cell_value(field, text)
        except RowError as error:
            return Row(number, {}, f"{field}: {error}")
    for field in plan.unique:
        if field not in fields:
            return Row(number, {}, f"{field}: empty, but it recognises the relation (unique)")
    return Row(number, fields)


def custom_problem(custom: dict[str, Any]) -> str | None:
    """A relation's custom fields after the row: within the API's bounds?"""
    try:
        check_custom(custom)
    except (PydanticCustomError, ValueError):
        return "custom fields would exceed their bounds (16 KiB, 100 fields)"
    return None
