"""Reading an import file: CSV or JSON lines into contact rows, normalised as a contact create is.

The file is checked as a whole first (decodable, a usable CSV header or a first line that is
JSON, between 1 and `max_rows` rows), so a file that cannot be imported is refused before
anything is written. Rows are then read lazily and normalised one chunk at a time; a bad row
becomes a `RowError` naming its 1-based data row number (header and blank lines not counted).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from resolvers.contact_fields import ContactFields, normalize_email, normalize_phone, normalize_tags
from resolvers.errors import PayloadTooLarge, ValidationFailed, field_error
from resolvers.validation import as_validation_failed

FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("name", "first_name", "last_name", "email", "phone", "tags", "metadata")
METADATA_PREFIX = "metadata."
TAG_SEPARATOR = ";"  # inside the `tags` cell: "vip;newsletter"
DELIMITERS = (",", ";", "\t")  # the header line decides which one the file uses


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str | None  # None: the row as a whole
    message: str


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A valid row, normalised; `name` and `metadata` are None when the row does not give them."""

    row: int
    email: str | None
    phone: str | None
    name: str | None
    metadata: dict[str, Any] | None
    tags: list[str]


Record = tuple[int, dict[str, Any] | RowError]  # a data row number and its raw fields (or why not)


@dataclass(frozen=True, slots=True)
class ImportFile:
    text: str
    file_format: str
    total: int  # data rows
    header: list[str] | None = None  # CSV column names
    delimiter: str = ","

    def records(self) -> Iterator[Record]:
        if self.file_format == "csv":
            assert self.header is not None
            return _csv_records(self.text, self.header, self.delimiter)
        return _jsonl_records(self.text)


def open_import(body: bytes, file_format: str, *, max_rows: int) -> ImportFile:
    """Checks the whole file; raises 422 (or 413 past `max_rows`) when it cannot be imported."""
    if file_format not in FORMATS:
        raise field_error("format", f"must be one of {', '.join(FORMATS)}")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _body_error(f"not UTF-8 text (byte {error.start})") from None
    if "\x00" in text:
        raise _body_error("not a text file (it contains NUL bytes)")
    if file_format == "csv":
        header, delimiter = _csv_header(text)
        total = sum(1 for _ in _csv_rows(text, delimiter)) - 1
        imported = ImportFile(text, file_format, total, header, delimiter)
    else:
        _check_first_line_is_json(text)
        imported = ImportFile(text, file_format, sum(1 for _ in _content_lines(text)))
    if imported.total <= 0:
        raise _body_error("the file has no contact rows")
    if imported.total > max_rows:
        message = f"at most {max_rows} rows per import; this file has {imported.total}"
        raise PayloadTooLarge(message, fields={"body": [message]})
    return imported


def prepare(records: list[Record]) -> tuple[list[ImportRow], list[RowError]]:
    """Validates and normalises rows as a contact create does (CPU only: run it off the loop)."""
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    for number, raw in records:
        if isinstance(raw, RowError):
            errors.append(raw)
            continue
        outcome = _prepare_row(number, raw)
        if isinstance(outcome, ImportRow):
            rows.append(outcome)
        else:
            errors.extend(outcome)
    return rows, errors


def _prepare_row(number: int, raw: dict[str, Any]) -> ImportRow | list[RowError]:
    try:
        fields = ContactFields.model_validate(raw, strict=True)
        email, phone = normalize_email(fields.email), normalize_phone(fields.phone)
    except ValidationError as error:
        return _row_errors(number, as_validation_failed(error))
    except ValidationFailed as error:
        return _row_errors(number, error)
    if email is None and phone is None:
        return [RowError(number, None, "a contact needs a phone or an email")]
    return ImportRow(
        row=number,
        email=email,
        phone=phone,
        name=fields.combined_name(),
        metadata=fields.metadata,
        tags=normalize_tags(fields.tags or []),
    )


def _row_errors(number: int, error: ValidationFailed) -> list[RowError]:
    if not error.fields:
        return [RowError(number, None, error.message)]
    return [RowError(number, name, "; ".join(messages)) for name, messages in error.fields.items()]


def _body_error(message: str) -> ValidationFailed:
    return ValidationFailed(f"cannot import this file: {message}", fields={"body": [message]})


# --- CSV ---------------------------------------------------------------------------------------


def _csv_rows(text: str, delimiter: str) -> Iterator[list[str]]:
    """Non-blank rows (a row of empty cells, as spreadsheets export, counts as blank)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield cells
    except csv.Error as error:
        raise _body_error(f"malformed CSV at line {reader.line_num}: {error}") from None


def _csv_header(text: str) -> tuple[list[str], str]:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    header_cells = next(_csv_rows(text, delimiter), None)
    if header_cells is None:
        raise _body_error("the file is empty")
    header = [cell.strip() for cell in header_cells]
    if "" in header:
        raise _body_error(f"column {header.index('') + 1} of the header has no name")
    columns = [name.lower() if name.lower() in CSV_COLUMNS else name for name in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS and not _metadata_key(name)]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown[:5])
        raise _body_error(
            f"unknown column(s) {listed}; the columns are {', '.join(CSV_COLUMNS)} and "
            f"{METADATA_PREFIX}<key> for custom fields"
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise _body_error(f"repeated column(s) {', '.join(repeated)}")
    if "email" not in columns and "phone" not in columns:
        raise _body_error("the header needs an email or a phone column")
    return columns, delimiter


def _metadata_key(column: str) -> str:
    """The key of a `metadata.<key>` column, else ''."""
    if column.lower().startswith(METADATA_PREFIX):
        return column[len(METADATA_PREFIX) :].strip()
    return ""


def _csv_records(text: str, header: list[str], delimiter: str) -> Iterator[Record]:
    rows = _csv_rows(text, delimiter)
    next(rows)  # the header, checked by open_import
    for number, cells in enumerate(rows, start=1):
        if len(cells) > len(header):
            message = f"{len(cells)} values for {len(header)} columns"
            yield number, RowError(number, None, message)
            continue
        yield number, _csv_fields(number, header, cells)


def _csv_fields(number: int, header: list[str], cells: list[str]) -> dict[str, Any] | RowError:
    """A CSV row as the fields of a contact create; an empty cell is a field not given."""
    fields: dict[str, Any] = {}
    extra_metadata: dict[str, Any] = {}
    for column, raw in zip(header, cells, strict=False):  # missing trailing cells are empty
        value = raw.strip()
        if not value:
            continue
        if column == "tags":
            fields["tags"] = [tag.strip() for tag in value.split(TAG_SEPARATOR) if tag.strip()]
        elif column == "metadata":
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                parsed = None
            if not isinstance(parsed, dict):
                return RowError(number, "metadata", "the metadata column must hold a JSON object")
            fields["metadata"] = parsed
        elif key := _metadata_key(column):
            extra_metadata[key] = value
        else:
            fields[column] = value
    if extra_metadata:
        fields["metadata"] = {**fields.get("metadata", {}), **extra_metadata}
    return fields


# --- JSON lines --------------------------------------------------------------------------------


def _content_lines(text: str) -> Iterator[str]:
    # Only "\n" ends a line: str.splitlines would also split inside strings at U+2028 and friends.
    return (line for line in text.split("\n") if line.strip())


def _check_first_line_is_json(text: str) -> None:
    """A first line that is not JSON means the body is not JSON lines at all (not a row error)."""
    first = next(_content_lines(text), None)
    if first is None:
        raise _body_error("the file is empty")
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        raise _body_error("not JSON lines (one JSON object per line); the first line is not JSON") from None


def _jsonl_records(text: str) -> Iterator[Record]:
    for number, line in enumerate(_content_lines(text), start=1):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield number, RowError(number, None, f"malformed JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield number, RowError(number, None, "each line must be a JSON object")
            continue
        yield number, value
