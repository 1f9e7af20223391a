"""``crest export`` and ``crest import``: whole tables in and out, resumable after Ctrl-C.

Export writes ``FILE.partial`` and, next to it, ``FILE.checkpoint`` (the last ID written and
the byte size of the partial file at that point). Rows come in ascending ID order, so a
re-run truncates the partial file to the checkpoint and continues after that ID; the
finished file is renamed into place.

Import keeps a write-ahead log, ``FILE.csv.checkpoint.jsonl``: a line before each batch is
sent (``sent``) and one after its answer (``done`` / ``failed`` / ``unknown``). A re-run skips
every row with a known outcome and never re-sends a row that was sent without an answer:
those are listed in the report (``FILE.csv.failed.csv``) as of unknown outcome, to check by
hand. The report is rebuilt from the log at the end of every run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from crest.cli_call import parse_pairs
from crest.errors import CrestError, UnknownOutcomeError

if TYPE_CHECKING:
    from crest.client import Client

__all__ = [
    "ENTITIES",
    "ExportOutcome",
    "ImportOutcome",
    "export_command",
    "export_rows",
    "import_command",
    "import_rows",
    "row_fields",
]

#: ``crest import`` entities and their add methods.
ENTITIES = {
    "contact": "crm.contact.add",
    "company": "crm.company.add",
    "lead": "crm.lead.add",
    "deal": "crm.deal.add",
}
#: CRM multi-fields: a plain value becomes ``[{VALUE, VALUE_TYPE}]``.
MULTI_FIELDS = ("PHONE", "EMAIL", "WEB", "IM")
_CHECKPOINT_EVERY = 2000  # rows between export checkpoints (and at every interrupt)


class _Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._shown = 0.0
        self.start = time.monotonic()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._shown < 0.1 and done != total):
            return
        self._shown = now
        rate = done / max(now - self.start, 1e-6)
        if total:
            pct = min(1.0, done / total)
            bar = "#" * int(pct * 30)
            text = f"\r{self.label} [{bar:<30}] {done}/{total} ({rate:,.0f}/s)"
        else:
            text = f"\r{self.label} {done} ({rate:,.0f}/s)"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --- export --------------------------------------------------------------------------------------


@dataclass
class ExportOutcome:
    rows: int
    resumed_from: int | None
    path: Path
    stats: dict[str, Any] = field(default_factory=dict)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


def export_rows(
    client: Client,
    method: str,
    out: Path,
    *,
    params: Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    filter: Mapping[str, Any] | None = None,
    parallel: int = 4,
    progress: Callable[[int, int | None], None] | None = None,
    restart: bool = False,
) -> ExportOutcome:
    """Write every row of ``method`` to ``out`` (``.csv`` or ``.jsonl``), resuming if possible."""
    from crest.bulk import list_all, list_shape

    out = Path(out)
    fmt = "jsonl" if out.suffix.lower() in {".jsonl", ".ndjson"} else "csv"
    partial = out.with_name(out.name + ".partial")
    ckpt_path = out.with_name(out.name + ".checkpoint")
    shape = list_shape(method)
    job = {
        "method": method,
        "params": dict(params or {}),
        "select": list(select or []),
        "filter": dict(filter or {}),
    }
    state: dict[str, Any] | None = None
    if not restart and ckpt_path.exists() and partial.exists():
        saved = json.loads(ckpt_path.read_text(encoding="utf-8"))
        if saved.get("job") == json.loads(json.dumps(job)):
            state = saved
    columns: list[str] | None = list(select) if select else None
    written = 0
    after: int | None = None
    if state is not None:
        # Drop whatever was written after the last checkpoint: those rows come again.
        with open(partial, "r+b") as fh:
            fh.truncate(int(state["offset"]))
        written, after, columns = int(state["rows"]), state.get("last_id"), state.get("columns") or columns
        handle = open(partial, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed in finally
    else:
        handle = open(partial, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in finally
    resumed_from = after
    writer: Any = None
    last_id = after
    stats: dict[str, Any] = {}

    def checkpoint() -> None:
        handle.flush()
        os.fsync(handle.fileno())
        _atomic_write(
            ckpt_path,
            json.dumps(
                {
                    "job": job,
                    "last_id": last_id,
                    "rows": written,
                    "offset": handle.tell(),
                    "columns": columns,
                }
            ),
        )

    base_rows = written

    def report(done: int, estimate: int) -> None:
        if progress is not None:
            progress(base_rows + done, None if estimate <= 0 else max(estimate, base_rows + done))

    try:
        rows = list_all(
            client,
            method,
            params,
            select=select,
            filter=filter,
            parallel=parallel,
            after=after,
            progress=report,
            stats=stats,
        )
        for row in rows:
            if fmt == "jsonl":
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                if columns is None:
                    columns = list(row)
                if writer is None:
                    writer = csv.writer(handle)
                    if handle.tell() == 0:
                        writer.writerow(columns)
                writer.writerow([_cell(row.get(c)) for c in columns])
            written += 1
            last_id = shape.id_of(row)
            if written % _CHECKPOINT_EVERY == 0:
                checkpoint()
        if fmt == "csv" and handle.tell() == 0 and columns:
            csv.writer(handle).writerow(columns)
    except BaseException:
        checkpoint()
        handle.close()
        raise
    handle.close()
    os.replace(partial, out)
    ckpt_path.unlink(missing_ok=True)
    return ExportOutcome(written, resumed_from, out, stats)


# --- import --------------------------------------------------------------------------------------


def row_fields(row: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row as ``fields`` of ``crm.*.add``: multi-fields (``PHONE``, ``EMAIL_HOME``...) as lists."""
    fields: dict[str, Any] = {}
    for raw_key, raw_value in row.items():
        key = (raw_key or "").strip().upper()
        value = (raw_value or "").strip()
        if not key or not value:
            continue
        base, _, kind = key.partition("_")
        if base in MULTI_FIELDS and (not kind or kind.isalpha()):
            fields.setdefault(base, []).append({"VALUE": value, "VALUE_TYPE": kind or "WORK"})
        else:
            fields[key] = value
    return fields


@dataclass
class ImportOutcome:
    created: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    report: Path | None = None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _ImportLog:
    """The write-ahead log of an import (JSON lines, fsynced, appended from several threads)."""

    def __init__(self, path: Path, digest: str, restart: bool) -> None:
        self.path = path
        self.done: dict[int, Any] = {}
        self.failed: dict[int, dict[str, str]] = {}
        self.sent: set[int] = set()
        if restart:
            path.unlink(missing_ok=True)
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            head = json.loads(lines[0]) if lines else {}
            if head.get("digest") != digest:
                raise click.ClickException(
                    f"{path} belongs to a different version of the file; use --restart to start over"
                )
            for line in lines[1:]:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash: its batch stays "sent", i.e. unknown
                self._apply(entry)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        else:
            self._fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
            self._write({"digest": digest})
        self._lock = threading.Lock()

    def _apply(self, entry: Mapping[str, Any]) -> None:
        self.sent.update(int(i) for i in entry.get("sent", ()))
        self.done.update({int(k): v for k, v in entry.get("done", {}).items()})
        self.failed.update({int(k): v for k, v in entry.get("failed", {}).items()})

    def _write(self, entry: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def record(self, entry: Mapping[str, Any]) -> None:
        with self._lock:
            self._apply(entry)
            self._write(entry)

    def settled(self, row: int) -> bool:
        return row in self.done or row in self.failed or row in self.sent

    def close(self) -> None:
        self._fh.close()


def _error_entry(exc: CrestError) -> dict[str, str]:
    kind = "unknown_outcome" if isinstance(exc, UnknownOutcomeError) else "error"
    return {"kind": kind, "code": exc.code or type(exc).__name__, "description": exc.description or str(exc)}


def import_rows(
    client: Client,
    entity: str,
    path: Path,
    *,
    report: Path | None = None,
    parallel: int = 6,
    progress: Callable[[int, int | None], None] | None = None,
    restart: bool = False,
) -> ImportOutcome:
    """Create one ``entity`` per CSV row of ``path``; resumable; failures go to ``report``."""
    from crest.bulk import call_many

    method = ENTITIES[entity]
    path = Path(path)
    report = report or path.with_name(path.name + ".failed.csv")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    log = _ImportLog(path.with_name(path.name + ".checkpoint.jsonl"), _file_digest(path), restart)
    outcome = ImportOutcome()
    try:
        todo = [i for i in range(len(rows)) if not log.settled(i)]
        outcome.skipped = len(rows) - len(todo)
        params = [{"fields": row_fields(rows[i])} for i in todo]

        def on_send(indices: list[int]) -> None:
            log.record({"sent": [todo[i] for i in indices]})

        def on_chunk(indices: list[int], results: list[Any]) -> None:
            done: dict[str, Any] = {}
            failed: dict[str, dict[str, str]] = {}
            for i, result in zip(indices, results, strict=True):
                if isinstance(result, CrestError):
                    failed[str(todo[i])] = _error_entry(result)
                else:
                    done[str(todo[i])] = result
            log.record({"done": done, "failed": failed})

        def step(done: int, total: int) -> None:
            if progress is not None:
                progress(outcome.skipped + done, len(rows))

        if params:
            call_many(
                client, method, params, progress=step, parallel=parallel, on_send=on_send, on_chunk=on_chunk
            )
    finally:
        log.close()
        _write_report(report, header, rows, log, outcome)
    return outcome


def _write_report(
    report: Path, header: list[str], rows: list[dict[str, str]], log: _ImportLog, outcome: ImportOutcome
) -> None:
    """Every row that did not end in a created record, with why (rebuilt from the log)."""
    problems: list[tuple[int, dict[str, str]]] = sorted(log.failed.items())
    unknown = sorted(log.sent - set(log.done) - set(log.failed))
    problems += [
        (i, {"kind": "unknown_outcome", "code": "UNKNOWN_OUTCOME", "description": "sent, no answer recorded"})
        for i in unknown
    ]
    outcome.created = len(log.done)
    outcome.failed = sum(1 for _, e in problems if e.get("kind") != "unknown_outcome")
    outcome.unknown = len(problems) - outcome.failed
    outcome.report = report if problems else None
    if not problems:
        report.unlink(missing_ok=True)
        return
    with open(report, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "outcome", "error", "error_description", *header])
        for i, err in sorted(problems):
            # ``row`` is the line number in the CSV file (the header is line 1).
            writer.writerow(
                [i + 2, err.get("kind", ""), err.get("code", ""), err.get("description", "")]
                + [rows[i].get(h, "") for h in header]
            )


# --- click commands ------------------------------------------------------------------------------


def _client(
    webhook: str | None,
    ca_bundle: str | None,
    plan: str,
    speed: float,
    share: float,
    limiter: str | None = None,
) -> Client:
    from crest.client import Client
    from crest.limits import Limiter

    if webhook:
        client = Client.from_webhook(webhook, ca_bundle=ca_bundle)
    else:
        from crest.settings import Settings

        client = Client.from_settings(Settings.load(), **({"ca_bundle": ca_bundle} if ca_bundle else {}))
    if limiter:
        # One bucket for every host using this database: the whole plan, no --share needed.
        from crest.limits_postgres import SharedLimiter

        client.limiter = SharedLimiter.for_portal(limiter, client.auth.endpoint(), plan, speed=speed)
    else:
        client.limiter = Limiter.shared(client.auth.endpoint(), plan, speed=speed, share=share)
    return client


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--webhook", envvar="CREST_WEB_HOOK_URL", help="Incoming webhook URL (default: settings)."
        ),
        click.option(
            "--ca-bundle",
            envvar="CREST_CA_BUNDLE",
            type=click.Path(exists=True, dir_okay=False),
            help="CA bundle for a portal with a private CA.",
        ),
        click.option(
            "--plan",
            type=click.Choice(["standard", "enterprise"]),
            default="standard",
            show_default=True,
            help="The portal's plan: sets the request rate (50 burst + 2/s, or 250 + 5/s).",
        ),
        click.option(
            "--speed",
            type=float,
            default=1.0,
            show_default=True,
            help="Time factor of a local portal (crest portal --speed).",
        ),
        click.option(
            "--share",
            type=float,
            default=1.0,
            show_default=True,
            help="Fraction of the portal's limits this process may use (1/N for N processes).",
        ),
        click.option(
            "--limiter",
            envvar="CREST_LIMITER",
            default=None,
            help="postgresql://... : share one bucket per portal with every host using that database.",
        ),
        click.option("--restart", is_flag=True, help="Ignore a checkpoint and start over."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _iter_pairs(pairs: Sequence[str]) -> Iterator[tuple[str, str]]:
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}")
        yield key, value


@contextmanager
def _interruptible(bar: _Progress, resume: str) -> Iterator[None]:
    """Close the progress bar however the work ends; Ctrl-C and portal errors end it cleanly.

    Both commands keep a checkpoint, so the way out is always the same advice: run it again.
    """
    try:
        yield
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"interrupted; run the same command again to {resume}", err=True)
        sys.exit(130)
    except CrestError as exc:
        bar.close()
        raise click.ClickException(
            f"{type(exc).__name__}: {exc}; run the same command again to {resume}"
        ) from None
    else:
        bar.close()


@click.command("export")
@click.argument("method")
@click.option("--select", "select", multiple=True, help="A field to export (repeat); default: all.")
@click.option("--filter", "filters", multiple=True, help="A filter as key=value (>ID=10, %NAME=ann; repeat).")
@click.option("--param", "extra", multiple=True, help="Another method parameter (entityTypeId=3).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="FILE.csv or FILE.jsonl")
@click.option("--parallel", type=int, default=4, show_default=True, help="Keyset chains run at once.")
@_common
def export_command(
    method: str,
    select: tuple[str, ...],
    filters: tuple[str, ...],
    extra: tuple[str, ...],
    out: str,
    parallel: int,
    webhook: str | None,
    ca_bundle: str | None,
    plan: str,
    speed: float,
    share: float,
    limiter: str | None,
    restart: bool,
    quiet: bool,
) -> None:
    """Export every row of list METHOD (crm.contact.list, crm.item.list, tasks.task.list...)."""
    filter_ = dict(_iter_pairs(filters))
    params = parse_pairs(extra) if extra else {}
    bar = _Progress(f"export {method}", enabled=not quiet)
    with (
        _interruptible(bar, "resume from the checkpoint"),
        _client(webhook, ca_bundle, plan, speed, share, limiter) as client,
    ):
        result = export_rows(
            client,
            method,
            Path(out),
            params=params,
            select=list(select) or None,
            filter=filter_,
            parallel=parallel,
            progress=bar,
            restart=restart,
        )
    note = f" (resumed after ID {result.resumed_from})" if result.resumed_from is not None else ""
    click.echo(
        f"{result.rows} rows -> {result.path}{note}; {result.stats.get('requests', '?')} requests", err=True
    )


@click.command("import")
@click.argument("entity", type=click.Choice(sorted(ENTITIES)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--report", type=click.Path(dir_okay=False), help="Failed rows go here (default FILE.failed.csv)."
)
@click.option("--parallel", type=int, default=6, show_default=True, help="Batches in flight at once.")
@_common
def import_command(
    entity: str,
    file: str,
    report: str | None,
    parallel: int,
    webhook: str | None,
    ca_bundle: str | None,
    plan: str,
    speed: float,
    share: float,
    limiter: str | None,
    restart: bool,
    quiet: bool,
) -> None:
    """Create one ENTITY per row of a CSV FILE whose header names the fields (NAME, PHONE, EMAIL...)."""
    bar = _Progress(f"import {entity}", enabled=not quiet)
    with (
        _interruptible(bar, "continue (done rows are skipped)"),
        _client(webhook, ca_bundle, plan, speed, share, limiter) as client,
    ):
        result = import_rows(
            client,
            entity,
            Path(file),
            report=Path(report) if report else None,
            parallel=parallel,
            progress=bar,
            restart=restart,
        )
    click.echo(
        f"created {result.created}, failed {result.failed}, unknown outcome {result.unknown}"
        + (f", skipped {result.skipped} done before" if result.skipped else "")
        + (f"; report: {result.report}" if result.report else ""),
        err=True,
    )
    if result.failed or result.unknown:
        sys.exit(1)
