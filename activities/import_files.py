"""Reading an import's CSV file: its header, its row count, and one batch of rows from a
byte offset on (where the previous batch ended), so no batch re-reads the rows before it.

Files live in the import directory; a job names its file relative to it, and a name
that leads outside it (`../`, a link) is refused.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from activities.file_places import within
from domain.import_mapping import (
    Header,
    HeaderError,
    Plan,
    Record,
    Row,
    convert,
    plan,
    read_header,
    records,
)


class FileProblem(ValueError):
    """The file cannot be imported at all (the whole import fails with this message)."""


def resolve(directory: Path, name: str) -> Path:
    path = within(directory, name)
    if path is None:
        raise FileProblem(f"'{name}' is not a file in the import directory")
    return path


def _open(directory: Path, name: str) -> BinaryIO:
    path = resolve(directory, name)
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise FileProblem(f"file '{name}' is not in the import directory") from None
    except OSError as error:
        raise FileProblem(f"file '{name}' cannot be read: {error.strerror}") from None


@dataclass(frozen=True)
class Opened:
    header: Header
    plan: Plan


def check(directory: Path, name: str, mapping: Mapping[str, str], unique: Sequence[str]) -> Opened:
    """The file's header and the mapping's place in it; FileProblem says what is wrong."""
    with _open(directory, name) as file:
        return _checked(file, mapping, unique)


def _checked(file: BinaryIO, mapping: Mapping[str, str], unique: Sequence[str]) -> Opened:
    try:
        header = read_header(file)
        return Opened(header, plan(header.columns, mapping, unique))
    except HeaderError as error:
        raise FileProblem(str(error)) from None


def _data(file: BinaryIO, header: Header, offset: int) -> Iterator[Record]:
    """The non-blank data records from byte `offset` on, each with the offset after it
    in the file."""
    start = max(offset, header.end)
    file.seek(start)
    try:
        for record in records(file, header.delimiter):
            if not record.blank:
                yield Record(record.cells, start + record.end, record.utf8)
    except csv.Error as error:
        # An unbalanced quote runs to the field size limit: nothing after it is readable.
        raise FileProblem(
            f"not readable as CSV ({error}): a quoted cell is left open, or has text "
            "after its closing quote"
        ) from None


def count_rows(
    directory: Path, name: str, mapping: Mapping[str, str], unique: Sequence[str]
) -> int:
    """Data rows of the file (blank lines are no rows); FileProblem if it cannot be read,
    naming the row: the whole file is read before any row is imported."""
    with _open(directory, name) as file:
        opened = _checked(file, mapping, unique)
        count = 0
        try:
            for _ in _data(file, opened.header, 0):
                count += 1
        except FileProblem as problem:
            raise FileProblem(f"data row {count + 1:,}: {problem}") from None
        return count


@dataclass(frozen=True)
class Batch:
    rows: list[Row]
    end: int  # the byte offset after the last row read
    exhausted: bool  # no rows after these


def read_batch(
    directory: Path,
    name: str,
    mapping: Mapping[str, str],
    unique: Sequence[str],
    *,
    offset: int,
    first: int,
    limit: int,
) -> Batch:
    """Up to `limit` rows from byte `offset` on, numbered from `first`, each made into
    fields or refused (domain.import_mapping.convert)."""
    with _open(directory, name) as file:
        opened = _checked(file, mapping, unique)
        rows: list[Row] = []
        end = max(offset, opened.header.end)
        data = _data(file, opened.header, offset)
        for record in data:
            rows.append(convert(opened.plan, first + len(rows), record))
            end = record.end
            if len(rows) == limit:
                break
        exhausted = len(rows) < limit or next(data, None) is None
        return Batch(rows, end, exhausted)
