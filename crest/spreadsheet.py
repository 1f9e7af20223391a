"""Spreadsheets as users hold them: CSV in any of Excel's dialects, and XLSX.

Reading detects what Excel and LibreOffice actually save: UTF-8 with or without a BOM, or
windows-1251 (Russian Excel's "CSV" without "UTF-8"); ``,``, ``;`` (Excel in ru/de/fr
locales, where ``,`` is the decimal mark) or tab. Every data row comes back as a
:class:`SourceRow` with its line number; a row whose cells do not line up with the header is
kept as a *bad* row with the reason, never dropped and never a traceback.

CRM multi-fields (``PHONE``, ``EMAIL``, ``WEB``, ``IM``) are lists of ``{VALUE, VALUE_TYPE}``
on the wire. In a sheet they are one column per type (``PHONE_WORK``, ``PHONE_MOBILE``,
``EMAIL_HOME``...); several values of one type share a cell, separated by ``", "``.
:func:`flatten_row` and :func:`row_fields` are each other's inverse, so an export imports back.

XLSX needs openpyxl (``pip install 'b24-crest[xlsx]'``).
"""

from __future__ import annotations

import codecs
import csv
import importlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crest.errors import ConfigError, SheetError

__all__ = [
    "DELIMITERS",
    "MULTI_FIELDS",
    "ColumnSet",
    "Sheet",
    "SheetFormat",
    "SourceRow",
    "detect_delimiter",
    "detect_encoding",
    "flatten_row",
    "read_sheet",
    "row_fields",
    "write_sheet",
]

#: CRM multi-fields: lists of ``{VALUE, VALUE_TYPE}``, one sheet column per type.
MULTI_FIELDS = ("PHONE", "EMAIL", "WEB", "IM")
#: The order types are laid out in, Bitrix24's own (others follow alphabetically).
_TYPE_ORDER = ("WORK", "MOBILE", "HOME", "FAX", "PAGER", "MAILING", "TELEGRAM", "OTHER")
#: Separator of several values of one type in one cell.
VALUE_SEPARATOR = ", "
#: Delimiters a CSV may use, by the name the command line accepts.
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t"}
_MULTI_COLUMN = re.compile(r"^(PHONE|EMAIL|WEB|IM)(?:_([A-Z][A-Z0-9]*))?$")


@dataclass(frozen=True)
class SheetFormat:
    """How a sheet is (to be) written: ``csv`` with its encoding and delimiter, or ``xlsx``."""

    kind: str = "csv"  # csv | xlsx
    encoding: str = "utf-8"  # utf-8, utf-8-sig (with a BOM), cp1251
    delimiter: str = ","
    #: Cells Excel would run as formulas get a leading ``'`` (see :func:`guard_formula`).
    guard_formulas: bool = False

    @classmethod
    def excel(cls, delimiter: str = ";") -> SheetFormat:
        """What Excel opens by double-click: UTF-8 with a BOM (else Cyrillic breaks) and ``;``."""
        return cls("csv", "utf-8-sig", delimiter, guard_formulas=True)


@dataclass(frozen=True)
class SourceRow:
    """One data row of a sheet: its cells by header name, or why it could not be read."""

    line: int  # line (CSV) or row (XLSX) number in the file; the header is 1
    cells: tuple[str, ...]
    problem: str | None = None  # set for a bad row: its cells are what could be read


@dataclass(frozen=True)
class Sheet:
    header: tuple[str, ...]
    rows: tuple[SourceRow, ...]
    format: SheetFormat

    def record(self, row: SourceRow) -> dict[str, str]:
        return dict(zip(self.header, row.cells, strict=False))


# --- reading -------------------------------------------------------------------------------------


def detect_encoding(data: bytes) -> str:
    """``utf-8-sig`` (a BOM), ``utf-8`` when the bytes decode as UTF-8, else ``cp1251``.

    Text in windows-1251 is almost never valid UTF-8 (its Cyrillic letters are bytes >= 0xC0
    followed by more such bytes, not UTF-8 continuation bytes), so a strict UTF-8 decode is a
    reliable test; Excel saves no other encodings for the users we serve.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8"


def detect_delimiter(header_line: str) -> str:
    """The delimiter the header line uses most, outside quotes; ``,`` when it has none."""
    counts = dict.fromkeys((",", ";", "\t"), 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_sheet(path: Path) -> Sheet:
    """Read a CSV or XLSX file (by its suffix) into a :class:`Sheet`."""
    path = Path(path)
    if path.suffix.lower() in {".xls", ".ods", ".numbers"}:
        raise SheetError(f"{path.name}: save it as .xlsx or as CSV first (this format is not read)")
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _read_xlsx(path)
    data = path.read_bytes()
    encoding = detect_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SheetError(
            f"{path}: neither UTF-8 nor windows-1251 (byte {exc.start}); save it as 'CSV UTF-8'"
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = detect_delimiter(first)
    return _read_csv(text, SheetFormat("csv", encoding, delimiter))


def _read_csv(text: str, fmt: SheetFormat) -> Sheet:
    lines = io.StringIO(text, newline="")
    reader = csv.reader(lines, delimiter=fmt.delimiter)
    header: tuple[str, ...] | None = None
    rows: list[SourceRow] = []
    consumed = 0  # physical lines read so far: a row starts on the next one
    while True:
        start = consumed + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            consumed = reader.line_num
            if header is None:
                raise SheetError(f"line {start}: the header cannot be read ({exc})") from None
            rows.append(SourceRow(start, (), f"cannot be read as CSV: {exc}"))
            continue
        consumed = reader.line_num
        if header is None:
            header = tuple(c.strip() for c in cells)
            continue
        if len(cells) <= 1 and not "".join(cells).strip():
            continue  # a blank line carries no row
        rows.append(_checked(start, [unguard(c) for c in cells], len(header)))
    if header is None:
        raise SheetError("the file is empty: the first line must name the columns")
    return Sheet(header, tuple(rows), fmt)


def _checked(line: int, cells: Sequence[str], width: int) -> SourceRow:
    if len(cells) > width:
        return SourceRow(line, tuple(cells), f"{len(cells)} cells, the header has {width} columns")
    if len(cells) < width:
        return SourceRow(line, tuple(cells), f"only {len(cells)} cells, the header has {width} columns")
    return SourceRow(line, tuple(cells))


def _openpyxl() -> Any:
    try:
        # Imported by name: an optional extra, used untyped (it ships no type hints).
        openpyxl = importlib.import_module("openpyxl")
    except ImportError:
        raise ConfigError("XLSX needs openpyxl: pip install 'b24-crest[xlsx]'") from None
    return openpyxl


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number typed into Excel is a float
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _read_xlsx(path: Path) -> Sheet:
    openpyxl = _openpyxl()
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/... for a file that is not XLSX
        raise SheetError(f"{path} is not a readable XLSX file ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0]
        header: tuple[str, ...] | None = None
        rows: list[SourceRow] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_text(v) for v in values]
            if header is None:
                while cells and not cells[-1].strip():
                    cells.pop()
                header = tuple(c.strip() for c in cells)
                continue
            if not any(c.strip() for c in cells):
                continue
            # XLSX rows carry every column up to the widest one in the sheet: trailing blank
            # cells are not extra data, but a value past the header is.
            while len(cells) > len(header) and not cells[-1].strip():
                cells.pop()
            cells += [""] * (len(header) - len(cells))
            rows.append(_checked(number, cells, len(header)))
    finally:
        book.close()
    if header is None:
        raise SheetError("the sheet is empty: the first row must name the columns")
    return Sheet(header, tuple(rows), SheetFormat("xlsx"))


# --- multi-fields ------------------------------------------------------------------------------


def _type_key(kind: str) -> tuple[int, str]:
    return (_TYPE_ORDER.index(kind) if kind in _TYPE_ORDER else len(_TYPE_ORDER), kind)


def _is_multi(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, Mapping) and "VALUE" in v for v in value)


def flatten_row(row: Mapping[str, Any]) -> dict[str, str]:
    """A row of a CRM list as sheet cells: multi-fields one column per type, the rest as text."""
    out: dict[str, str] = {}
    for key, value in row.items():
        if key.upper() in MULTI_FIELDS and _is_multi(value):
            by_type: dict[str, list[str]] = {}
            for entry in value:
                kind = str(entry.get("VALUE_TYPE") or "WORK").upper()
                by_type.setdefault(kind, []).append(str(entry.get("VALUE") or ""))
            for kind in sorted(by_type, key=_type_key):
                out[f"{key.upper()}_{kind}"] = VALUE_SEPARATOR.join(by_type[kind])
            if not value:
                out.setdefault(f"{key.upper()}_WORK", "")
        else:
            out[key] = _cell(value)
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def multi_column(name: str) -> tuple[str, str] | None:
    """``PHONE_MOBILE`` -> ``("PHONE", "MOBILE")``; ``EMAIL`` -> ``("EMAIL", "WORK")``; else None."""
    match = _MULTI_COLUMN.match(name.strip().upper())
    if match is None:
        return None
    return match.group(1), match.group(2) or "WORK"


def row_fields(row: Mapping[str, str]) -> dict[str, Any]:
    """Sheet cells as ``fields`` of ``crm.*.add``: ``PHONE_MOBILE`` etc. back to multi-field lists."""
    fields: dict[str, Any] = {}
    for raw_key, raw_value in row.items():
        key = (raw_key or "").strip().upper()
        value = (raw_value or "").strip()
        if not key or not value:
            continue
        multi = multi_column(key)
        if multi is not None:
            base, kind = multi
            for part in value.split(","):
                if part.strip():
                    fields.setdefault(base, []).append({"VALUE": part.strip(), "VALUE_TYPE": kind})
        else:
            fields[key] = value
    return fields


class ColumnSet:
    """The header of an export, learnt from the rows as they stream past.

    Columns keep the order they first appear in (or the ``select`` order); the type columns
    of a multi-field sit together where the field first appears, in Bitrix24's type order.
    It is small and JSON-able, so an interrupted export keeps it in its checkpoint.
    """

    def __init__(self, select: Sequence[str] = (), saved: Mapping[str, Any] | None = None) -> None:
        self.bases: list[str] = []
        self.types: dict[str, list[str]] = {}
        if saved is not None:
            self.bases = list(saved.get("bases", []))
            self.types = {k: list(v) for k, v in saved.get("types", {}).items()}
        else:
            for name in select:
                if name != "*" and not name.endswith("*"):
                    self._base(name)

    def _base(self, name: str) -> None:
        if name not in self.bases:
            self.bases.append(name)

    def add(self, flat: Mapping[str, str], original: Mapping[str, Any]) -> None:
        for key in original:
            self._base(key.upper() if key.upper() in MULTI_FIELDS else key)
        for key in flat:
            multi = multi_column(key) if key.split("_", 1)[0] in MULTI_FIELDS else None
            if multi is not None and multi[0] in self.bases:
                kinds = self.types.setdefault(multi[0], [])
                if multi[1] not in kinds:
                    kinds.append(multi[1])
                    kinds.sort(key=_type_key)

    def header(self) -> list[str]:
        out: list[str] = []
        for base in self.bases:
            if base.upper() in MULTI_FIELDS:
                out += [f"{base.upper()}_{k}" for k in self.types.get(base.upper(), ["WORK"])]
            else:
                out.append(base)
        return out

    def saved(self) -> dict[str, Any]:
        return {"bases": self.bases, "types": self.types}


# --- writing -------------------------------------------------------------------------------------


def write_sheet(
    path: Path, header: Sequence[str], rows: Iterable[Mapping[str, str]], fmt: SheetFormat
) -> int:
    """Write ``header`` and ``rows`` (streamed) to ``path``; returns the number of rows."""
    if fmt.kind == "xlsx":
        return _write_xlsx(path, header, rows)
    count = 0
    with open(path, "w", encoding=fmt.encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=fmt.delimiter)
        writer.writerow(header)
        for row in rows:
            cells = [row.get(h, "") for h in header]
            writer.writerow([guard_formula(c) for c in cells] if fmt.guard_formulas else cells)
            count += 1
    return count


_PHONE_LIKE = re.compile(r"^[+-][\d\s().-]*$")


def guard_formula(cell: str) -> str:
    """``'`` before a cell Excel would evaluate (``=``, ``@``, ``+``/``-`` followed by more than
    a number), so CRM data cannot run as a formula in the user's Excel (CSV injection).

    Phone numbers such as ``+7 (916) 000-00-01`` are left as they are; :func:`unguard`
    removes the mark on import, so the file still round-trips.
    """
    if cell[:1] in {"=", "@", "\t", "\r"} or (cell[:1] in {"+", "-"} and not _PHONE_LIKE.match(cell)):
        return "'" + cell
    return cell


def unguard(cell: str) -> str:
    """The inverse of :func:`guard_formula`."""
    if cell.startswith("'") and guard_formula(cell[1:]) == cell:
        return cell[1:]
    return cell


def _write_xlsx(path: Path, header: Sequence[str], rows: Iterable[Mapping[str, str]]) -> int:
    openpyxl = _openpyxl()
    book = openpyxl.Workbook(write_only=True)  # streams rows to disk: memory stays flat
    sheet = book.create_sheet()
    sheet.append(list(header))
    cell_type = importlib.import_module("openpyxl.cell").WriteOnlyCell
    count = 0

    def text_cell(value: str) -> Any:
        # openpyxl stores a string starting with "=" as a formula: a contact named
        # "=HYPERLINK(...)" would run in the user's Excel. Such cells are typed as text.
        if not value.startswith("="):
            return value
        cell = cell_type(sheet, value)
        cell.data_type = "s"
        return cell

    for row in rows:
        # Text cells, never numbers: a phone "+7 916..." or an ID keeps its exact spelling.
        sheet.append([text_cell(_xlsx_safe(row.get(h, ""))) for h in header])
        count += 1
    book.save(path)
    return count


_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_safe(text: str) -> str:
    return _ILLEGAL_XML.sub("", text)  # XML cannot hold these; openpyxl would raise


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
