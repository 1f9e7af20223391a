# ruff: noqa: RUF001 - Cyrillic text is the test data here, not look-alike Latin
"""Spreadsheets as users hold them, through ``crest import`` / ``crest export`` and a real portal."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner, Result

from crest.cli import main
from crest.client import Client
from crest.spreadsheet import detect_delimiter, detect_encoding, flatten_row, row_fields
from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal

MULTI_SELECT = ["ID", "NAME", "LAST_NAME", "COMMENTS", "PHONE", "EMAIL", "WEB", "IM"]


@pytest.fixture
def empty() -> Iterator[PortalHandle]:
    with running_portal(PortalConfig(limits=False, cost=None)) as p:
        yield p


def crest(p: PortalHandle, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--webhook", p.webhook_url, "--speed", "1000", "--quiet"])


def contacts(p: PortalHandle) -> list[dict[str, Any]]:
    client = Client.from_webhook(p.webhook_url)
    return list(client.list_all("crm.contact.list", select=MULTI_SELECT))


def sheet_rows(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def test_semicolon_cp1251_csv_as_russian_excel_saves_it(empty: PortalHandle, tmp_path: Path) -> None:
    src = tmp_path / "люди.csv"
    src.write_bytes(
        "NAME;LAST_NAME;PHONE_MOBILE\r\nАнна;Иванова;+7 916 000-00-01\r\nПётр;Петров;\r\n".encode("cp1251")
    )
    result = crest(empty, "import", "contact", str(src))
    assert result.exit_code == 0, result.output
    assert "created 2, failed 0" in result.output
    got = sorted(contacts(empty), key=lambda r: r["NAME"])
    assert [(r["NAME"], r["LAST_NAME"]) for r in got] == [("Анна", "Иванова"), ("Пётр", "Петров")]
    assert got[0]["PHONE"][0]["VALUE"] == "+7 916 000-00-01" and got[0]["PHONE"][0]["VALUE_TYPE"] == "MOBILE"


@pytest.mark.parametrize(
    ("encoding", "delimiter"), [("utf-8-sig", "\t"), ("utf-8", ";"), ("utf-8-sig", ","), ("cp1251", "\t")]
)
def test_encoding_and_delimiter_are_detected(
    empty: PortalHandle, tmp_path: Path, encoding: str, delimiter: str
) -> None:
    src = tmp_path / "people.csv"
    with open(src, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(["NAME", "COMMENTS"])
        writer.writerow(["Zoë" if encoding != "cp1251" else "Зоя", "a, b; c"])  # delimiters inside a cell
    result = crest(empty, "import", "contact", str(src))
    assert result.exit_code == 0, result.output
    [row] = contacts(empty)
    assert row["NAME"] in {"Zoë", "Зоя"} and row["COMMENTS"] == "a, b; c"


def test_detection_rules() -> None:
    assert detect_encoding(b"\xef\xbb\xbfNAME") == "utf-8-sig"
    assert detect_encoding("Имя".encode()) == "utf-8"
    assert detect_encoding("Имя".encode("cp1251")) == "cp1251"
    assert detect_delimiter('"a;b",c,d') == ","  # the quoted ; does not count
    assert (
        detect_delimiter("a;b;c") == ";" and detect_delimiter("a\tb") == "\t" and detect_delimiter("a") == ","
    )


def test_unknown_columns_stop_before_any_write(empty: PortalHandle, tmp_path: Path) -> None:
    src = tmp_path / "people.csv"
    src.write_text("NAME,E-mail,Notes\nAnn,ann@example.com,vip\n", encoding="utf-8")
    empty.clear_requests()
    refused = crest(empty, "import", "contact", str(src))
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert (
        "'E-mail'" in refused.output and "'Notes'" in refused.output and "Nothing was sent" in refused.output
    )
    assert empty.count("batch") == 0 and contacts(empty) == []
    assert not (tmp_path / "people.csv.checkpoint.jsonl").exists()

    mapped = crest(empty, "import", "contact", str(src), "--map", "E-mail=EMAIL", "--map", "Notes=")
    assert mapped.exit_code == 0, mapped.output
    [row] = contacts(empty)
    assert row["EMAIL"][0]["VALUE"] == "ann@example.com" and row["EMAIL"][0]["VALUE_TYPE"] == "WORK"
    assert row["COMMENTS"] is None


def test_ignore_unknown_drops_the_columns(empty: PortalHandle, tmp_path: Path) -> None:
    src = tmp_path / "people.csv"
    src.write_text("NAME,Colour\nAnn,red\n", encoding="utf-8")
    result = crest(empty, "import", "contact", str(src), "--ignore-unknown")
    assert result.exit_code == 0, result.output
    assert [r["NAME"] for r in contacts(empty)] == ["Ann"]


def test_ragged_rows_go_to_the_report_never_a_traceback(empty: PortalHandle, tmp_path: Path) -> None:
    src = tmp_path / "people.csv"
    src.write_text(
        'NAME,LAST_NAME\nAnn,Lee\nBob,Ray,extra\nCid\n"Dee","Multi\nline"\nEve,Fox\n', encoding="utf-8"
    )
    result = crest(empty, "import", "contact", str(src))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "created 3, failed 2 (2 bad rows)" in result.output
    assert sorted(r["NAME"] for r in contacts(empty)) == ["Ann", "Dee", "Eve"]
    report = sheet_rows(tmp_path / "people.csv.failed.csv")
    assert [(r["row"], r["outcome"]) for r in report] == [("3", "bad_row"), ("4", "bad_row")]
    assert "3 cells, the header has 2" in report[0]["error_description"]
    assert report[0]["(extra cell 3)"] == "extra"  # nothing of the row is lost
    assert "only 1 cells" in report[1]["error_description"] and report[1]["NAME"] == "Cid"
    # The line after a multi-line cell is numbered right, and a re-run sends nothing again.
    empty.clear_requests()
    again = crest(empty, "import", "contact", str(src))
    assert again.exit_code == 1 and empty.count("batch") == 0


def test_row_fields_and_flatten_are_inverse() -> None:
    row = {
        "NAME": "Ann",
        "PHONE": [
            {"ID": "1", "VALUE": "+1 555 0100", "VALUE_TYPE": "WORK"},
            {"ID": "2", "VALUE": "+1 555 0101", "VALUE_TYPE": "MOBILE"},
            {"ID": "3", "VALUE": "+1 555 0102", "VALUE_TYPE": "WORK"},
        ],
        "IM": [{"ID": "4", "VALUE": "ann", "VALUE_TYPE": "TELEGRAM"}],
    }
    flat = flatten_row(row)
    assert flat == {
        "NAME": "Ann",
        "PHONE_WORK": "+1 555 0100, +1 555 0102",
        "PHONE_MOBILE": "+1 555 0101",
        "IM_TELEGRAM": "ann",
    }
    back = row_fields(flat)
    assert back["NAME"] == "Ann"
    assert sorted((e["VALUE_TYPE"], e["VALUE"]) for e in back["PHONE"]) == sorted(
        (e["VALUE_TYPE"], e["VALUE"]) for e in row["PHONE"]
    )
    assert back["IM"] == [{"VALUE": "ann", "VALUE_TYPE": "TELEGRAM"}]


def _seed(p: PortalHandle) -> None:
    client = Client.from_webhook(p.webhook_url)
    people: list[dict[str, Any]] = [
        {
            "NAME": "Анна",
            "LAST_NAME": "Иванова",
            "COMMENTS": '; and , and "quotes"',
            "PHONE": [
                {"VALUE": "+7 916 000-00-01", "VALUE_TYPE": "WORK"},
                {"VALUE": "+7 903 000-00-02", "VALUE_TYPE": "MOBILE"},
                {"VALUE": "+7 495 000-00-03", "VALUE_TYPE": "WORK"},
            ],
            "EMAIL": [{"VALUE": "anna@example.ru", "VALUE_TYPE": "HOME"}],
            "WEB": [{"VALUE": "https://anna.example", "VALUE_TYPE": "WORK"}],
            "IM": [{"VALUE": "anna_tg", "VALUE_TYPE": "TELEGRAM"}],
        },
        {"NAME": "Jürgen", "EMAIL": [{"VALUE": "j@example.de", "VALUE_TYPE": "WORK"}]},
        {"NAME": "Bare"},
    ]
    assert client.call_many("crm.contact.add", [{"fields": f} for f in people]).ok


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without IDs (a new portal numbers them anew), multi-field entries as (type, value)."""
    out = []
    for row in rows:
        item = {k: v for k, v in row.items() if k != "ID"}
        for key in ("PHONE", "EMAIL", "WEB", "IM"):
            if key in item:
                item[key] = sorted((e["VALUE_TYPE"], e["VALUE"]) for e in item[key])
        out.append(item)
    return sorted(out, key=lambda r: str(r["NAME"]))


@pytest.mark.parametrize("kind", ["excel", "xlsx", "csv"])
def test_export_import_export_round_trips(tmp_path: Path, kind: str) -> None:
    suffix = ".xlsx" if kind == "xlsx" else ".csv"
    first, second = tmp_path / f"first{suffix}", tmp_path / f"second{suffix}"
    select = [a for f in MULTI_SELECT for a in ("--select", f)]
    extra = ["--excel"] if kind == "excel" else []
    with running_portal(PortalConfig(limits=False, cost=None)) as source:
        _seed(source)
        original = contacts(source)
        assert (
            crest(source, "export", "crm.contact.list", *select, "--out", str(first), *extra).exit_code == 0
        )
    if kind == "excel":
        data = first.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")  # a BOM: Excel then reads UTF-8, Cyrillic intact
        header = data[3:].split(b"\r\n", 1)[0].decode()
        assert header.split(";")[:4] == ["ID", "NAME", "LAST_NAME", "COMMENTS"]
        assert "PHONE_WORK" in header and "PHONE_MOBILE" in header and "IM_TELEGRAM" in header
    with running_portal(PortalConfig(limits=False, cost=None)) as target:
        imported = crest(target, "import", "contact", str(first))
        assert imported.exit_code == 0, imported.output
        assert "created 3, failed 0" in imported.output
        assert _comparable(contacts(target)) == _comparable(original)
        assert (
            crest(target, "export", "crm.contact.list", *select, "--out", str(second), *extra).exit_code == 0
        )

    def cells(path: Path) -> list[list[str]]:
        if kind == "xlsx":
            book = openpyxl.load_workbook(path, read_only=True)
            rows = [
                ["" if c is None else str(c) for c in r]
                for r in book.worksheets[0].iter_rows(values_only=True)
            ]
            book.close()
            return rows
        text = path.read_text(encoding="utf-8-sig")
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=";" if kind == "excel" else ","))

    a, b = cells(first), cells(second)
    assert a[0] == b[0]  # the same header
    id_at = a[0].index("ID")
    strip = [[c for i, c in enumerate(r) if i != id_at] for r in a[1:]]
    assert strip == [[c for i, c in enumerate(r) if i != id_at] for r in b[1:]]


def test_xlsx_import_with_numbers_and_a_ragged_row(empty: PortalHandle, tmp_path: Path) -> None:
    src = tmp_path / "people.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Name", "Mobile"])
    sheet.append(["Ann", 79160000001])  # Excel keeps a typed phone number as a number
    sheet.append(["Bob", "+7 903", "a note past the header"])
    book.save(src)
    result = crest(empty, "import", "contact", str(src), "--map", "Name=NAME", "--map", "Mobile=PHONE_MOBILE")
    assert result.exit_code == 1 and "created 1, failed 1 (1 bad rows)" in result.output
    [row] = contacts(empty)
    assert row["NAME"] == "Ann" and row["PHONE"][0]["VALUE"] == "79160000001"
    report = sheet_rows(tmp_path / "people.xlsx.failed.csv")
    assert report[0]["row"] == "3" and report[0]["outcome"] == "bad_row"


def test_export_writes_the_header_with_no_rows(empty: PortalHandle, tmp_path: Path) -> None:
    out = tmp_path / "none.csv"
    result = crest(empty, "export", "crm.contact.list", "--filter", "%NAME=nobody", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    header = text.splitlines()
    assert len(header) == 1 and header[0].startswith("ID,") and "NAME" in header[0].split(",")
    selected = tmp_path / "selected.csv"
    crest(empty, "export", "crm.contact.list", "--select", "ID", "--select", "PHONE", "--out", str(selected))
    assert selected.read_text(encoding="utf-8").splitlines() == ["ID,PHONE_WORK"]


def test_xlsx_export_never_writes_a_formula(empty: PortalHandle, tmp_path: Path) -> None:
    client = Client.from_webhook(empty.webhook_url)
    client.call(
        "crm.contact.add", {"fields": {"NAME": '=HYPERLINK("http://127.0.0.1:9/","x")', "LAST_NAME": "=1+2"}}
    )
    out = tmp_path / "contacts.xlsx"
    assert (
        crest(
            empty,
            "export",
            "crm.contact.list",
            "--select",
            "NAME",
            "--select",
            "LAST_NAME",
            "--out",
            str(out),
        ).exit_code
        == 0
    )
    book = openpyxl.load_workbook(out)
    header, cells = list(book.worksheets[0].iter_rows())
    assert {c.data_type for c in cells} == {"s"}  # text, not formulas
    assert cells[[h.value for h in header].index("LAST_NAME")].value == "=1+2"
    with running_portal(PortalConfig(limits=False, cost=None)) as target:
        assert crest(target, "import", "contact", str(out)).exit_code == 0
        [row] = contacts(target)
        assert row["LAST_NAME"] == "=1+2"  # and it imports back as it was


def test_old_excel_formats_are_refused_clearly(empty: PortalHandle, tmp_path: Path) -> None:
    src = tmp_path / "people.xls"
    src.write_bytes(b"\xd0\xcf\x11\xe0 not really")
    result = crest(empty, "import", "contact", str(src))
    assert (
        result.exit_code == 1
        and "save it as .xlsx or as CSV" in result.output
        and "Traceback" not in result.output
    )


def test_excel_csv_neutralises_formulas_and_imports_them_back(empty: PortalHandle, tmp_path: Path) -> None:
    client = Client.from_webhook(empty.webhook_url)
    fields = {
        "NAME": '=HYPERLINK("http://127.0.0.1:9/","x")',
        "LAST_NAME": "-2+3",
        "COMMENTS": "@SUM(A1)",
        "PHONE": [{"VALUE": "+7 (916) 000-00-01", "VALUE_TYPE": "WORK"}],
    }
    client.call("crm.contact.add", {"fields": fields})
    out = tmp_path / "contacts.csv"
    select = [a for f in ("NAME", "LAST_NAME", "COMMENTS", "PHONE") for a in ("--select", f)]
    assert crest(empty, "export", "crm.contact.list", *select, "--out", str(out), "--excel").exit_code == 0
    [row] = sheet_rows(out, "utf-8-sig", ";")
    assert row["NAME"].startswith("'=") and row["LAST_NAME"] == "'-2+3" and row["COMMENTS"] == "'@SUM(A1)"
    assert row["PHONE_WORK"] == "+7 (916) 000-00-01"  # a phone number stays readable
    with running_portal(PortalConfig(limits=False, cost=None)) as target:
        assert crest(target, "import", "contact", str(out)).exit_code == 0
        [back] = contacts(target)
        assert (back["NAME"], back["LAST_NAME"], back["COMMENTS"]) == (
            fields["NAME"],
            fields["LAST_NAME"],
            fields["COMMENTS"],
        )
        assert back["PHONE"][0]["VALUE"] == "+7 (916) 000-00-01"
