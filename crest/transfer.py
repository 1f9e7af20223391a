"""Whole tables in and out of a portal, resumable: the engine behind ``crest export`` / ``import``.

**Export** streams the rows of :func:`crest.bulk.list_all` (ascending ID) into
``FILE.partial``, JSON lines, with ``FILE.checkpoint`` beside it (the last ID written, the
byte size of the partial file at that point and the columns seen so far). A re-run truncates
the partial file to the checkpoint and continues after that ID. At the end the spool becomes
the output: renamed for ``.jsonl``; converted, streaming, for ``.csv`` (any encoding and
delimiter, :class:`~crest.spreadsheet.SheetFormat`) and ``.xlsx``, with multi-fields one
column per type. The header is written even when no row matched.

**Import** reads a CSV or XLSX sheet (encoding and delimiter detected), maps its columns
(``--map``), refuses unknown columns before any write, and keeps a write-ahead log,
``FILE.checkpoint.jsonl``: a line before each batch is sent (``sent``) and one after its
answer (``done`` / ``failed``, or ``released`` for rows refused as a whole). Outcomes:

* *done*: created; never sent again.
* *failed*: the portal refused the row itself (a missing title, a bad value): listed in
  ``FILE.failed.csv``; ``retry_failed`` sends these again (after you fixed the cause).
* *unknown*: sent, no answer (a dropped connection, a 5xx without a code): the record may
  exist. Never re-sent, not even by ``retry_failed``; listed in ``FILE.unknown.csv`` with
  what to check.
* *bad*: a row the sheet itself spoils (ragged): in the failure report, never sent.
* a **systemic** failure (wrong webhook, missing scope, portal deleted or unreachable,
  limits exhausted) is nobody's row: the run stops at once with :class:`RunStopped`, the
  rows concerned are released (they did not run) and a re-run after the fix sends them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crest.errors import (
    AccessDeniedError,
    AuthError,
    ConnectError,
    CrestError,
    LimitError,
    PortalDeletedError,
    ProtocolError,
    ServerError,
    SheetError,
    UnknownOutcomeError,
    is_systemic,
)
from crest.spreadsheet import (
    MULTI_FIELDS,
    ColumnSet,
    Sheet,
    SheetFormat,
    SourceRow,
    flatten_row,
    iter_jsonl,
    multi_column,
    read_sheet,
    row_fields,
    write_sheet,
)

if TYPE_CHECKING:
    from crest.client import Client

__all__ = [
    "ENTITIES",
    "ExportOutcome",
    "ImportOutcome",
    "RunStopped",
    "export_rows",
    "import_rows",
    "is_systemic",
    "row_fields",
]

#: ``crest import`` entities and their add methods.
ENTITIES = {
    "contact": "crm.contact.add",
    "company": "crm.company.add",
    "lead": "crm.lead.add",
    "deal": "crm.deal.add",
}
_CHECKPOINT_EVERY = 2000  # rows between export checkpoints (and at every interrupt)

ProgressFn = Callable[[int, int | None], None]

#: What to do about each kind of systemic failure, for the one message the run ends with.
_ADVICE: tuple[tuple[type[CrestError], str], ...] = (
    (PortalDeletedError, "the portal was deleted; nothing can be sent to it"),
    (ConnectError, "the portal cannot be reached: check its address and that it is up"),
    (
        AuthError,
        "the portal refused the credentials or their scope: check the webhook (or the app's install and scopes)",
    ),
    (AccessDeniedError, "the user of the webhook may not do this: check the user's CRM rights"),
    (LimitError, "the portal's limits refused every retry: wait, or lower --parallel / --share"),
)


class RunStopped(CrestError):
    """A bulk run stopped at a systemic failure; no progress was lost, re-run after the fix."""

    code = "run_stopped"

    def __init__(self, cause: CrestError, advice: str) -> None:
        self.cause = cause
        self.advice = advice
        self.outcome: ImportOutcome | None = None  # where the run stood, set by import_rows
        super().__init__(f"{type(cause).__name__}: {cause}; {advice}")


def advice_for(exc: CrestError) -> str:
    for cls, text in _ADVICE:
        if isinstance(exc, cls):
            return text
    return "fix the cause"


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


def output_format(out: Path, sheet: SheetFormat | None) -> SheetFormat | None:
    """``None`` for JSON lines, else how the sheet is written (by suffix; ``sheet`` for CSV)."""
    suffix = out.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return None
    if suffix == ".xlsx":
        return SheetFormat("xlsx")
    return sheet or SheetFormat()


def _fields_header(client: Client, method: str, params: Mapping[str, Any]) -> list[str]:
    """The columns of a list with no rows, from its ``.fields`` method (best effort)."""
    if not method.lower().endswith(".list"):
        return []
    fields_method = method[: -len(".list")] + ".fields"
    extra = {k: v for k, v in params.items() if k.lower() == "entitytypeid"}
    try:
        result = client.call(fields_method, extra)
    except CrestError:
        return []  # no fields method: an empty file says as much
    if isinstance(result, Mapping) and isinstance(result.get("fields"), Mapping):
        result = result["fields"]
    if not isinstance(result, Mapping):
        return []
    # The same columns a row of the default select (``*``) has: multi-fields are not in it.
    return [str(name) for name in result if str(name).upper() not in MULTI_FIELDS]


def export_rows(
    client: Client,
    method: str,
    out: Path,
    *,
    params: Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    filter: Mapping[str, Any] | None = None,
    parallel: int = 4,
    progress: ProgressFn | None = None,
    restart: bool = False,
    sheet: SheetFormat | None = None,
    buffer_rows: int | None = None,
) -> ExportOutcome:
    """Write every row of ``method`` to ``out`` (``.csv``, ``.xlsx`` or ``.jsonl``), resuming if possible.

    Memory stays flat whatever the row count and ``parallel``: rows stream to the spool
    file, the chains of :func:`crest.bulk.list_all` hold at most ``buffer_rows`` rows each in
    memory (the rest is spooled), and the final conversion streams too. Rows are written in
    ascending ID order.
    """
    from crest.bulk import list_all, list_shape

    out = Path(out)
    fmt = output_format(out, sheet)
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
        if saved.get("job") == json.loads(json.dumps(job)) and isinstance(saved.get("columns"), dict):
            state = saved
    written = 0
    after: int | None = None
    columns = ColumnSet(select or ())
    if state is not None:
        # Drop whatever was written after the last checkpoint: those rows come again.
        with open(partial, "r+b") as fh:
            fh.truncate(int(state["offset"]))
        written, after = int(state["rows"]), state.get("last_id")
        columns = ColumnSet(saved=state["columns"])
        handle = open(partial, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    else:
        handle = open(partial, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    resumed_from = after
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
                    "columns": columns.saved(),
                }
            ),
        )

    base_rows = written

    def report(done: int, estimate: int) -> None:
        if progress is not None:
            progress(base_rows + done, None if estimate <= 0 else max(estimate, base_rows + done))

    extra: dict[str, Any] = {} if buffer_rows is None else {"buffer_rows": buffer_rows}
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
            **extra,
        )
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            if fmt is not None:
                columns.add(flatten_row(row), row)
            written += 1
            last_id = shape.id_of(row)
            if written % _CHECKPOINT_EVERY == 0:
                checkpoint()
    except BaseException:
        checkpoint()
        handle.close()
        raise
    handle.close()
    if fmt is None:
        os.replace(partial, out)
    else:
        header = columns.header() if columns.bases else _fields_header(client, method, dict(params or {}))
        tmp = out.with_name(out.name + ".tmp")
        write_sheet(tmp, header, (flatten_row(r) for r in iter_jsonl(partial)), fmt)
        os.replace(tmp, out)
        partial.unlink()
    ckpt_path.unlink(missing_ok=True)
    return ExportOutcome(written, resumed_from, out, stats)


# --- import --------------------------------------------------------------------------------------


@dataclass
class ImportOutcome:
    created: int = 0
    failed: int = 0
    unknown: int = 0
    bad: int = 0
    skipped: int = 0
    not_sent: int = 0
    report: Path | None = None
    unknown_report: Path | None = None
    stopped: RunStopped | None = None
    updated: int = 0
    conflicts: int = 0
    planned: dict[str, int] = field(default_factory=dict)  # add / update / conflict, with match
    plan: Path | None = None  # the dry run's plan file


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ImportLog:
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
                raise SheetError(
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

    @classmethod
    def empty(cls) -> ImportLog:
        """A log with nothing in it that writes nowhere (for a dry run)."""
        log = cls.__new__(cls)
        log.path, log.done, log.failed, log.sent = Path(os.devnull), {}, {}, set()
        log._fh = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        log._lock = threading.Lock()
        return log

    def _apply(self, entry: Mapping[str, Any]) -> None:
        self.sent.update(int(i) for i in entry.get("sent", ()))
        # Rows refused as a whole (systemic) did not run: as if never sent.
        self.sent.difference_update(int(i) for i in entry.get("released", ()))
        for k, v in entry.get("done", {}).items():
            self.done[int(k)] = v
            self.failed.pop(int(k), None)  # a retried row that went through
        self.failed.update({int(k): v for k, v in entry.get("failed", {}).items()})

    def _write(self, entry: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def record(self, entry: Mapping[str, Any]) -> None:
        with self._lock:
            self._apply(entry)
            self._write(entry)

    def unknown(self, row: int) -> bool:
        """Sent and never answered, or answered with an unknown outcome: it may have run."""
        if row in self.done:
            return False
        if row in self.failed:
            return self.failed[row].get("kind") == "unknown_outcome"
        return row in self.sent

    def to_send(self, row: int, retry_failed: bool) -> bool:
        if row in self.done or self.unknown(row):
            return False
        if row in self.failed:
            return retry_failed
        return True

    def close(self) -> None:
        self._fh.close()


def _error_entry(exc: CrestError) -> dict[str, str]:
    uncertain = isinstance(exc, UnknownOutcomeError | ProtocolError) or (
        isinstance(exc, ServerError) and not exc.code
    )
    return {
        "kind": "unknown_outcome" if uncertain else "error",
        "code": exc.code or type(exc).__name__,
        "description": exc.description or str(exc),
    }


def known_fields(client: Client, entity: str) -> set[str]:
    """Upper-case field names ``crm.<entity>.add`` takes (a read, before any write)."""
    result = client.call(f"crm.{entity}.fields")
    return {str(k).upper() for k in (result if isinstance(result, Mapping) else {})}


def map_columns(
    header: Sequence[str], mapping: Mapping[str, str], known: set[str], ignore_unknown: bool, sheet: Sheet
) -> list[str | None]:
    """Each sheet column's field name (``None``: ignored); unknown columns raise :class:`SheetError`."""
    lowered = {k.strip().lower(): v.strip() for k, v in mapping.items()}
    targets: list[str | None] = []
    unknown: list[str] = []
    for position, name in enumerate(header):
        target = lowered.get(name.strip().lower(), name.strip())
        if not target:
            # Nameless columns with nothing in them are an artefact of a trailing delimiter.
            if name.strip() and name.strip().lower() in lowered:
                targets.append(None)  # mapped to nothing: ignored on purpose
                continue
            if all(position >= len(r.cells) or not r.cells[position].strip() for r in sheet.rows):
                targets.append(None)
                continue
            target = f"(column {position + 1} without a name)"
        upper = target.upper()
        multi = multi_column(upper)
        if upper in known or upper.startswith("UF_") or (multi is not None and multi[0] in known):
            targets.append(upper)
        elif ignore_unknown:
            targets.append(None)
        else:
            targets.append(None)
            unknown.append(name or target)
    if unknown:
        raise SheetError(
            "unknown columns: "
            + ", ".join(repr(u) for u in unknown)
            + "; map them (--map 'E-mail=EMAIL'), drop them (--map 'Notes='), or pass --ignore-unknown."
            " Nothing was sent."
        )
    return targets


def import_rows(
    client: Client,
    entity: str,
    path: Path,
    *,
    report: Path | None = None,
    parallel: int = 6,
    progress: ProgressFn | None = None,
    restart: bool = False,
    mapping: Mapping[str, str] | None = None,
    ignore_unknown: bool = False,
    retry_failed: bool = False,
    match: str | None = None,
    dry_run: bool = False,
) -> ImportOutcome:
    """Create one ``entity`` per sheet row of ``path``; resumable; failures go to ``report``.

    With ``match`` (``EMAIL``, ``PHONE``, ``ORIGIN_ID``, ``ID``; see :mod:`crest.sync`) a row
    that matches one record updates it instead, and one that matches several is a conflict
    (reported, not written). ``dry_run`` only reads: it returns the plan's counts and writes
    it to ``FILE.plan.csv``.

    Raises :class:`~crest.errors.SheetError` before any write for an unreadable sheet or
    unknown columns, and :class:`RunStopped` (after writing the reports) at a systemic failure.
    """
    from crest.sync import check_match, plan_sync, update_fields

    method = ENTITIES[entity]
    path = Path(path)
    report = report or path.with_name(path.name + ".failed.csv")
    unknown_report = report.with_name(path.name + ".unknown.csv")
    sheet = read_sheet(path)
    if match is not None:
        check_match(entity, match)
    targets = map_columns(sheet.header, mapping or {}, known_fields(client, entity), ignore_unknown, sheet)
    if match is not None and not any(
        t and (t == match or (multi_column(t) or ("",))[0] == match) for t in targets
    ):
        raise SheetError(f"no column of the file holds {match}, the key to match by; nothing was sent")
    rows = sheet.rows
    log_path = path.with_name(path.name + ".checkpoint.jsonl")
    if dry_run and (restart or not log_path.exists()):
        log = ImportLog.empty()  # a dry run writes nothing, not even a log
    else:
        log = ImportLog(log_path, _file_digest(path), restart)
    outcome = ImportOutcome()
    conflicts: dict[int, str] = {}
    try:
        todo = [i for i, r in enumerate(rows) if r.problem is None and log.to_send(i, retry_failed)]
        outcome.skipped = sum(1 for i, r in enumerate(rows) if r.problem is None) - len(todo)
        fields = {i: row_fields(_record(targets, rows[i])) for i in todo}
        adds = list(todo)
        updates: list[tuple[int, int, dict[str, Any]]] = []
        if match is not None:
            earlier = {
                i: row_fields(_record(targets, r))
                for i, r in enumerate(rows)
                if r.problem is None and i not in fields and i in log.done
            }
            plan = plan_sync(
                client,
                entity,
                fields,
                match,
                parallel=parallel,
                lines={i: r.line for i, r in enumerate(rows)},
                done=earlier,
            )
            adds = [i for i in todo if plan[i].action == "add"]
            for i in todo:
                p = plan[i]
                if p.action == "update" and p.record_id is not None:
                    updates.append((i, p.record_id, update_fields(fields[i], p.current or {})))
                elif p.action == "conflict":
                    conflicts[i] = p.reason
        outcome.planned = {"add": len(adds), "update": len(updates), "conflict": len(conflicts)}
        if dry_run:
            outcome.plan = _write_plan(path, sheet, adds, updates, conflicts)
            return outcome
        sender = _Sender(client, log, parallel, progress, total=len(todo) + outcome.skipped)
        sender.offset = outcome.skipped
        unchanged = {str(i): {"updated": rid} for i, rid, f in updates if not f}
        if unchanged:
            log.record({"done": unchanged})  # nothing new for the record: no call needed
        try:
            sender.run(method, adds, [{"fields": fields[i]} for i in adds])
            changed = [(i, rid, f) for i, rid, f in updates if f]
            sender.run(
                method.replace(".add", ".update"),
                [i for i, _, _ in changed],
                [{"id": rid, "fields": f} for _, rid, f in changed],
            )
        except RunStopped as exc:
            outcome.stopped = exc
        outcome.not_sent = sum(
            1 for i in todo if i not in conflicts and log.to_send(i, retry_failed) and i not in log.failed
        )
    finally:
        log.close()
        if not dry_run:
            _write_reports(report, unknown_report, sheet, log, outcome, conflicts)
    if outcome.stopped is not None:
        outcome.stopped.outcome = outcome
        raise outcome.stopped
    return outcome


class _Sender:
    """One ``call_many`` run over some rows of the file, checkpointed in the import log."""

    def __init__(
        self, client: Client, log: ImportLog, parallel: int, progress: ProgressFn | None, total: int
    ) -> None:
        self.client, self.log, self.parallel, self.progress, self.total = (
            client,
            log,
            parallel,
            progress,
            total,
        )
        self.offset = 0  # rows done before this run (skipped, or by an earlier call_many)
        self.stopped = False

    def run(self, method: str, rows: list[int], params: list[dict[str, Any]]) -> None:
        from crest.bulk import call_many

        if not rows:
            return
        update = method.endswith(".update")
        log = self.log

        def on_send(indices: list[int]) -> None:
            log.record({"sent": [rows[i] for i in indices]})

        def on_chunk(indices: list[int], results: list[Any]) -> None:
            done: dict[str, Any] = {}
            failed: dict[str, dict[str, str]] = {}
            released: list[int] = []
            systemic: CrestError | None = None
            for i, result in zip(indices, results, strict=True):
                if isinstance(result, CrestError) and is_systemic(result):
                    released.append(rows[i])
                    systemic = systemic or result
                elif isinstance(result, CrestError):
                    failed[str(rows[i])] = _error_entry(result)
                else:
                    done[str(rows[i])] = {"updated": params[i]["id"]} if update else result
            log.record({"done": done, "failed": failed, "released": released})
            if systemic is not None and not self.stopped:
                self.stopped = True
                raise RunStopped(systemic, advice_for(systemic))  # call_many stops sending

        def step(done: int, total: int) -> None:
            if self.progress is not None:
                self.progress(self.offset + done, self.total)

        call_many(
            self.client,
            method,
            params,
            progress=step,
            parallel=self.parallel,
            on_send=on_send,
            on_chunk=on_chunk,
        )
        self.offset += len(rows)


def _write_plan(
    path: Path,
    sheet: Sheet,
    adds: list[int],
    updates: list[tuple[int, int, dict[str, Any]]],
    conflicts: dict[int, str],
) -> Path:
    """``FILE.plan.csv``: each row's planned action, the record it updates, or why it conflicts."""
    actions: dict[int, tuple[str, str, str]] = {i: ("add", "", "") for i in adds}
    actions.update({i: ("update", str(rid), "" if f else "nothing new") for i, rid, f in updates})
    actions.update({i: ("conflict", "", reason) for i, reason in conflicts.items()})
    header = ["row", "action", "record_id", "note", *sheet.header]
    plan = path.with_name(path.name + ".plan.csv")

    def lines() -> Iterator[dict[str, str]]:
        for i in sorted(actions):
            action, rid, note = actions[i]
            row = sheet.rows[i]
            yield {
                "row": str(row.line),
                "action": action,
                "record_id": rid,
                "note": note,
                **sheet.record(row),
            }

    write_sheet(plan, header, lines(), SheetFormat())
    return plan


def _record(targets: Sequence[str | None], row: SourceRow) -> dict[str, str]:
    out: dict[str, str] = {}
    for target, cell in zip(targets, row.cells, strict=False):
        if target is None:
            continue
        # Two columns for one multi-field type (mapped "Phone" and "PHONE_WORK") both count.
        out[target] = (
            f"{out[target]},{cell}" if out.get(target) and cell.strip() else (out.get(target) or cell)
        )
    return out


_CHECK = (
    "the batch was sent but no answer came: the record may exist (or be updated) already. Look"
    " for it in the portal (search by its name, phone or e-mail); write it by hand only if it is"
    " missing or unchanged"
)


def _write_reports(
    report: Path,
    unknown_report: Path,
    sheet: Sheet,
    log: ImportLog,
    outcome: ImportOutcome,
    conflicts: Mapping[int, str] | None = None,
) -> None:
    """The failure report and the unknown-outcome report, rebuilt from the log every run."""
    failed: list[tuple[int, dict[str, str]]] = []
    unknown: list[tuple[int, dict[str, str]]] = []
    conflicts = conflicts or {}
    for i, row in enumerate(sheet.rows):
        if row.problem is not None:
            failed.append((i, {"kind": "bad_row", "code": "BAD_ROW", "description": row.problem}))
        elif i in conflicts:
            failed.append((i, {"kind": "conflict", "code": "CONFLICT", "description": conflicts[i]}))
        elif log.unknown(i):
            entry = log.failed.get(i) or {
                "code": "UNKNOWN_OUTCOME",
                "description": "sent, no answer recorded",
            }
            unknown.append((i, {**entry, "kind": "unknown_outcome", "check": _CHECK}))
        elif i in log.failed:
            failed.append((i, log.failed[i]))
    outcome.updated = sum(1 for v in log.done.values() if isinstance(v, Mapping) and "updated" in v)
    outcome.created = len(log.done) - outcome.updated
    outcome.bad = sum(1 for _, e in failed if e["kind"] == "bad_row")
    outcome.conflicts = sum(1 for _, e in failed if e["kind"] == "conflict")
    outcome.failed = len(failed)
    outcome.unknown = len(unknown)
    outcome.report = _write_report(report, sheet, failed, [])
    outcome.unknown_report = _write_report(unknown_report, sheet, unknown, ["check"])


def _write_report(
    path: Path, sheet: Sheet, problems: list[tuple[int, dict[str, str]]], extra: list[str]
) -> Path | None:
    if not problems:
        path.unlink(missing_ok=True)
        return None
    header = list(sheet.header)
    width = max([len(header)] + [len(sheet.rows[i].cells) for i, _ in problems])
    header += [f"(extra cell {n + 1})" for n in range(len(header), width)]

    def lines() -> Iterator[dict[str, str]]:
        for i, err in problems:
            row = sheet.rows[i]
            cells = dict(zip(header, row.cells, strict=False))
            yield {
                # ``row`` is the line number in the file (the header is line 1).
                "row": str(row.line),
                "outcome": err.get("kind", ""),
                "error": err.get("code", ""),
                "error_description": err.get("description", ""),
                **{k: err.get(k, "") for k in extra},
                **cells,
            }

    report_header = ["row", "outcome", "error", "error_description", *extra, *header]
    # The report opens the way its sheet did (same delimiter); UTF-8 always, since an error
    # text may hold what windows-1251 cannot.
    if sheet.format.kind == "csv":
        fmt = SheetFormat(
            "csv", "utf-8-sig" if sheet.format.encoding != "utf-8" else "utf-8", sheet.format.delimiter
        )
    else:
        fmt = SheetFormat()
    write_sheet(path, report_header, lines(), fmt)
    return path
