"""CSV imports, the pure part: the header as Excel writes it, rows read again from where
a batch ended, each row made into fields or refused naming the field (never the value),
and a bad import step refused naming the step and the setting."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from domain.definition import parse_definition
from domain.import_mapping import (
    BOM,
    Record,
    convert,
    mapping_problems,
    parse_pairs,
    plan,
    read_header,
    records,
)
from domain.steps.imports import file_name

# Dutch Excel: a BOM, `;` between cells, CRLF, a quoted cell with `;` and a line break.
DUTCH = (
    BOM + b"E-mail;Voornaam;Geboortedatum;Nieuwsbrief;Lidnummer\r\n"
    b"anna@example.org;Anna;31-12-1990;ja;A-1\r\n"
    b'"bob@example.org";"Bob; ""Bobby""\r\nBuilder";1985-02-03;nee;B-2\r\n'
    b"\r\n"
    b"not-an-address;Carl;;ja;C-3\r\n"
    b"dora@example.org;Dora;1990-02-30;ja;D-4\r\n"
)
MAPPING = {
    "E-mail": "email",
    "Voornaam": "first_name",
    "Geboortedatum": "birth_date",
    "Nieuwsbrief": "opt_in_email",
    "Lidnummer": "member_number",
}


def _rows(data: bytes, offset: int) -> list[Record]:
    """The rows from byte `offset` on, each with the byte offset after it."""
    file = io.BytesIO(data)
    file.seek(offset)
    return [Record(r.cells, offset + r.end, r.utf8) for r in records(file, ";") if not r.blank]


def test_a_dutch_excel_file_is_read_and_a_batch_resumes_where_the_last_ended() -> None:
    header = read_header(io.BytesIO(DUTCH))
    assert header.delimiter == ";"
    assert header.columns == list(MAPPING)  # the BOM is not part of the first column
    every = _rows(DUTCH, header.end)
    assert len(every) == 4  # the blank line is no row
    assert every[1].cells[1] == 'Bob; "Bobby"\r\nBuilder'
    # A second batch that starts at the byte after the first row reads the same rows.
    assert _rows(DUTCH, every[0].end) == every[1:]

    found = plan(header.columns, MAPPING, ["email"])
    rows = [convert(found, n, r) for n, r in enumerate(every, start=1)]
    assert rows[0].fields == {
        "email": "anna@example.org",
        "first_name": "Anna",
        "birth_date": date(1990, 12, 31),
        "opt_in_email": True,
        "member_number": "A-1",
    }
    assert rows[1].fields["opt_in_email"] is False
    # Refusals name the field and what it takes, never the value.
    assert rows[2].error == "email: takes an email address"
    assert rows[3].error == "birth_date: takes a date (1990-12-31 or 31-12-1990)"
    assert "not-an-address" not in str(rows[2]) and "1990-02-30" not in (rows[3].error or "")


def test_rows_without_their_unique_value_or_not_utf8_are_refused() -> None:
    data = b"email,first_name\n,Anna\nbob@example.org,B\xe9b\n"
    header = read_header(io.BytesIO(data))
    found = plan(header.columns, {"email": "email", "first_name": "first_name"}, ["email"])
    empty, latin = [
        convert(found, n, r)
        for n, r in enumerate(records(io.BytesIO(data[header.end :]), ","), start=1)
    ]
    assert empty.error == "email: empty, but it recognises the relation (unique)"
    assert latin.error == "the row is not valid UTF-8"


def test_the_header_must_hold_every_mapped_column() -> None:
    header = read_header(io.BytesIO(b"Email\tName\n"))
    assert header.delimiter == "\t"
    with pytest.raises(ValueError, match="column 'E-mail' is not in the file's header"):
        plan(header.columns, {"E-mail": "email"}, ["email"])


def test_a_mapping_names_writable_fields_and_its_unique_ones() -> None:
    assert parse_pairs(["E-mail:email", "a:b:custom_x"], ":") == {
        "E-mail": "email",
        "a:b": "custom_x",
    }
    problems = mapping_problems({"E-mail": "email", "Sinds": "created_at"}, ["phone"])
    assert [(p.where, p.message) for p in problems] == [
        ("map", "column 'Sinds': 'created_at' cannot be written"),
        ("unique", "unique field 'phone' is not among the mapped fields"),
    ]


def _journey(**step: Any) -> dict[str, Any]:
    settings = {
        "id": "members",
        "type": "import",
        "file": "members.csv",
        "map": {"E-mail": "email"},
        "unique": ["email"],
        **step,
    }
    return {"name": "Import", "steps": [settings, {"id": "welcome", "type": "exit"}]}


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        ({"map": {"E-mail": "email", "Id": "id"}}, "map", "column 'Id': 'id' cannot be written"),
        ({"unique": ["phone"]}, "unique", "unique field 'phone' is not among the mapped fields"),
        ({"file": "../secrets.csv"}, "file", "no absolute path, no .."),
    ],
)
def test_a_bad_import_step_is_refused_naming_the_step_and_field(
    step: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_definition(_journey(**step))
    [error] = caught.value.errors()
    assert error["loc"] == ("steps", 0, "import", field)
    assert message in error["msg"]


def test_the_file_name_takes_the_day_and_the_ways_default_to_continue() -> None:
    step = parse_definition(_journey(file="drop/members-{{ today }}.csv", new="welcome")).steps[0]
    assert file_name(step.file, date(2027, 3, 1)) == "drop/members-2027-03-01.csv"  # type: ignore[attr-defined]
    assert step.ways_out() == {"continue": None, "new": "welcome"}
    assert step.way_for("updated") == "continue"  # type: ignore[attr-defined]
