"""``crest export`` and ``crest import``: the command line over :mod:`crest.transfer`.

The engine (resumable export and import, the write-ahead log, the reports) lives in
:mod:`crest.transfer`, the spreadsheet dialects in :mod:`crest.spreadsheet`; this module
only parses options, shows progress and turns outcomes into one line and an exit code.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from crest.cli_call import parse_pairs
from crest.errors import CrestError, SheetError
from crest.spreadsheet import DELIMITERS, MULTI_FIELDS, SheetFormat, row_fields
from crest.sync import MATCH_KEYS
from crest.transfer import (
    ENTITIES,
    ExportOutcome,
    ImportOutcome,
    RunStopped,
    advice_for,
    export_rows,
    import_rows,
    is_systemic,
)

if TYPE_CHECKING:
    from crest.client import Client

__all__ = [
    "ENTITIES",
    "MULTI_FIELDS",
    "ExportOutcome",
    "ImportOutcome",
    "export_command",
    "export_rows",
    "import_command",
    "import_rows",
    "row_fields",
]


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
    except SheetError as exc:
        bar.close()
        raise click.ClickException(
            str(exc.description or exc)
        ) from None  # the file's fault: no re-run advice
    except CrestError as exc:
        bar.close()
        advice = f" ({advice_for(exc)})" if is_systemic(exc) else ""
        raise click.ClickException(
            f"{type(exc).__name__}: {exc}{advice}; run the same command again to {resume}"
        ) from None
    else:
        bar.close()


def _sheet_format(excel: bool, delimiter: str | None) -> SheetFormat:
    sep = DELIMITERS[delimiter] if delimiter else (";" if excel else ",")
    return SheetFormat.excel(sep) if excel else SheetFormat("csv", "utf-8", sep)


@click.command("export")
@click.argument("method")
@click.option("--select", "select", multiple=True, help="A field to export (repeat); default: all.")
@click.option("--filter", "filters", multiple=True, help="A filter as key=value (>ID=10, %NAME=ann; repeat).")
@click.option("--param", "extra", multiple=True, help="Another method parameter (entityTypeId=3).")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="FILE.csv, FILE.xlsx or FILE.jsonl"
)
@click.option("--parallel", type=int, default=4, show_default=True, help="Keyset chains run at once.")
@click.option(
    "--excel",
    is_flag=True,
    help="CSV for Excel: UTF-8 with a BOM and ';' (ru/de/fr locales); see --delimiter.",
)
@click.option(
    "--delimiter",
    type=click.Choice(sorted(DELIMITERS.keys() - {"\t"})),
    help="CSV delimiter (default ',', or ';' with --excel; ',' for en-US Excel).",
)
@_common
def export_command(
    method: str,
    select: tuple[str, ...],
    filters: tuple[str, ...],
    extra: tuple[str, ...],
    out: str,
    parallel: int,
    excel: bool,
    delimiter: str | None,
    webhook: str | None,
    ca_bundle: str | None,
    plan: str,
    speed: float,
    share: float,
    limiter: str | None,
    restart: bool,
    quiet: bool,
) -> None:
    """Export every row of list METHOD (crm.contact.list, crm.item.list, tasks.task.list...).

    Rows come in ascending ID order. In CSV and XLSX, multi-fields are one column per type
    (PHONE_WORK, PHONE_MOBILE, EMAIL_HOME...), so the file imports back with `crest import`.
    """
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
            sheet=_sheet_format(excel, delimiter),
        )
    note = f" (resumed after ID {result.resumed_from})" if result.resumed_from is not None else ""
    click.echo(
        f"{result.rows} rows -> {result.path}{note}; {result.stats.get('requests', '?')} requests", err=True
    )


def _summary(result: ImportOutcome) -> str:
    notes = [
        f"{result.bad} bad rows" if result.bad else "",
        f"{result.conflicts} conflicts" if result.conflicts else "",
    ]
    notes = [n for n in notes if n]
    return (
        f"created {result.created}"
        + (f", updated {result.updated}" if result.updated else "")
        + f", failed {result.failed}"
        + (f" ({', '.join(notes)})" if notes else "")
        + f", unknown outcome {result.unknown}"
        + (f", skipped {result.skipped} done before" if result.skipped else "")
        + (f", {result.not_sent} not sent yet" if result.not_sent else "")
        + (f"; report: {result.report}" if result.report else "")
        + (f"; to check by hand: {result.unknown_report}" if result.unknown_report else "")
    )


@click.command("import")
@click.argument("entity", type=click.Choice(sorted(ENTITIES)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--report", type=click.Path(dir_okay=False), help="Failed rows go here (default FILE.failed.csv)."
)
@click.option("--parallel", type=int, default=6, show_default=True, help="Batches in flight at once.")
@click.option(
    "--map",
    "maps",
    multiple=True,
    help="A column to a field: 'E-mail=EMAIL', 'Mobile=PHONE_MOBILE'; 'Notes=' ignores a column (repeat).",
)
@click.option("--ignore-unknown", is_flag=True, help="Skip columns that are not fields instead of stopping.")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Send rows the portal refused again (never rows of unknown outcome).",
)
@click.option(
    "--match",
    type=click.Choice(list(MATCH_KEYS), case_sensitive=False),
    help="Update the record a row matches by this key, add the rest (synchronise).",
)
@click.option(
    "--dry-run", is_flag=True, help="With --match: print the plan (adds, updates, conflicts), write nothing."
)
@_common
def import_command(
    entity: str,
    file: str,
    report: str | None,
    parallel: int,
    maps: tuple[str, ...],
    ignore_unknown: bool,
    retry_failed: bool,
    match: str | None,
    dry_run: bool,
    webhook: str | None,
    ca_bundle: str | None,
    plan: str,
    speed: float,
    share: float,
    limiter: str | None,
    restart: bool,
    quiet: bool,
) -> None:
    """Create one ENTITY per row of a CSV or XLSX FILE whose header names the fields.

    Encoding (UTF-8, with or without BOM, windows-1251) and delimiter (, ; tab) are detected.
    Columns are field names (NAME, TITLE...) or multi-field types (PHONE_MOBILE, EMAIL_WORK;
    PHONE alone is PHONE_WORK); other names need --map. Unknown columns stop the run before
    anything is sent.

    With --match EMAIL|PHONE|ORIGIN_ID|ID a row that matches one record updates it (phones and
    e-mails it lacks are added, empty cells change nothing), a row that matches none is added,
    and one that matches several is a conflict, reported and not written; --dry-run shows the plan.
    """
    mapping = dict(_iter_pairs(maps))
    bar = _Progress(f"import {entity}", enabled=not quiet)
    with (
        _interruptible(bar, "continue (done rows are skipped)"),
        _client(webhook, ca_bundle, plan, speed, share, limiter) as client,
    ):
        try:
            result = import_rows(
                client,
                entity,
                Path(file),
                report=Path(report) if report else None,
                parallel=parallel,
                progress=bar,
                restart=restart,
                mapping=mapping,
                ignore_unknown=ignore_unknown,
                retry_failed=retry_failed,
                match=match.upper() if match else None,
                dry_run=dry_run,
            )
        except RunStopped as stop:
            bar.close()
            bar.enabled = False
            where = f" ({_summary(stop.outcome)})" if stop.outcome is not None else ""
            raise click.ClickException(
                f"stopped: {stop}. Nothing is lost{where}: run the same command again once fixed."
            ) from None
    if dry_run:
        planned = result.planned
        click.echo(
            f"plan: add {planned.get('add', 0)}, update {planned.get('update', 0)},"
            f" conflicts {planned.get('conflict', 0)}"
            + (f", skipped {result.skipped} done before" if result.skipped else "")
            + f"; nothing was written; each row: {result.plan}",
            err=True,
        )
        return
    click.echo(_summary(result), err=True)
    if result.failed or result.unknown:
        sys.exit(1)
