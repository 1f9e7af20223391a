"""Bulk work at the speed limit: :func:`call_many` and :func:`list_all`.

Both run through :class:`crest.client.Client` (one place sends HTTP, with its retry rules)
and are paced by a :class:`crest.limits.Limiter`: the client's own, or, when the client has
none, the process-wide limiter of its portal at the standard plan.

``call_many`` sends 50 calls to a ``batch`` request, several requests at once, and returns
results in input order with per-item errors. A batch whose outcome is unknown (the
connection dropped after sending) is *reported*, item by item, as
:class:`~crest.errors.UnknownOutcomeError`, and never re-sent: its writes may have applied.

``list_all`` reads every row of a list method exactly once:

* **keyset** (the default, and whenever the order is ``ID ASC``): two cheap calls find the
  smallest and largest ID, the ID range is split into ``parallel`` parts, and each part is
  walked by a *chain*: one ``batch`` of up to 50 pages where page ``i`` asks for rows after
  ``$result[p{i-1}][49][ID]`` (the last row of the page before), ``start=-1`` (no COUNT).
  That is 2,500 rows a request, and the chains run in parallel.
* **counted offset** (any other order): ``start=0, 50, 100 ...``, 50 pages a batch. Slow on
  big tables (every page counts the table) but the only way to keep a caller's order; the
  rows are checked against the ``total`` the portal reports.

Reference semantics matter (reference 4.2): when page ``i-1`` has fewer than 50 rows,
``$result[p{i-1}][49][ID]`` names a row that does not exist, and the server stops the
descent at the last node it found: page ``i`` is filtered by a whole array, and its rows
mean nothing. So a chain ends at its first short page, and every later page of that batch is
discarded. A failed page is treated the same way: the chain resumes after the last row of
the last good page.

Output order and memory: rows come out in ascending ID order, chain after chain. Chains
after the first read ahead of their turn; each holds at most ``buffer_rows`` rows in memory
(:class:`ChainBuffer`) and spools the rest to an anonymous temp file, so memory stays flat
whatever the table size and ``parallel``. Duplicates are ruled out by checking that IDs
strictly ascend (no set of every ID seen).

Reads that fail transiently (an answer lost, a limit, a ``500`` with or without a code)
are tried again with backoff; auth, scope and argument errors end the read at once.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from crest.batch import MAX_BATCH, BatchResult, Command, command_string
from crest.errors import (
    ApiError,
    CrestError,
    OperationTimeLimitError,
    ProtocolError,
    QueryLimitExceededError,
    ServerError,
    UnknownOutcomeError,
)
from crest.limits import Limiter

if TYPE_CHECKING:
    from crest.client import Client

__all__ = [
    "BUFFER_ROWS",
    "PAGE",
    "ChainBuffer",
    "ListConsistencyError",
    "ListShape",
    "ManyResults",
    "call_many",
    "list_all",
    "list_shape",
]

#: Rows per list page, fixed by Bitrix24.
PAGE = 50

ProgressFn = Callable[[int, int], None]


class ListConsistencyError(CrestError):
    """A list read did not match what the portal reported (rows missing or repeated)."""

    code = "list_consistency"


# --- pacing --------------------------------------------------------------------------------------


def paced(client: Client, limiter: Limiter | None = None) -> tuple[Client, Limiter]:
    """The client to send bulk requests with, and the limiter that paces it.

    A client built without a :class:`Limiter` (the CRest default, no pacing) gets a shallow
    copy that shares its session and auth but is paced by the portal's process-wide limiter,
    so bulk work never goes over the leaky bucket by default and the caller's client is left
    untouched.
    """
    if limiter is None and isinstance(client.limiter, Limiter):
        return client, client.limiter
    lim = limiter or Limiter.shared(client.auth.endpoint())
    if client.limiter is lim:
        return client, lim
    view = copy.copy(client)
    view.limiter = lim
    return view, lim


def _unknown_outcome(exc: CrestError) -> bool:
    """A transport failure after sending, or a 5xx without a Bitrix24 code: it may have run."""
    return isinstance(exc, UnknownOutcomeError) or (isinstance(exc, ServerError) and not exc.code)


def _not_run(exc: ApiError) -> bool:
    """Limit errors are given before a call runs, so re-sending cannot apply anything twice."""
    return isinstance(exc, QueryLimitExceededError | OperationTimeLimitError)


def _read_again(exc: CrestError) -> bool:
    """A read worth repeating: lost answers, limits, and any 5xx (with a code or not).

    A read changes nothing, so a ``500 INTERNAL_SERVER_ERROR`` (the portal's transient
    fault) is simply tried again after a pause; auth, scope and argument errors are not.
    """
    return (
        _unknown_outcome(exc) or isinstance(exc, ServerError) or (isinstance(exc, ApiError) and _not_run(exc))
    )


# --- call_many -----------------------------------------------------------------------------------


class ManyResults(list[Any]):
    """Results of :func:`call_many` in input order; a failed item holds its :class:`CrestError`.

    ``results[i]`` is the ``result`` of call ``i``, or the exception that call ended with:
    an :class:`~crest.errors.ApiError` from the portal, or an
    :class:`~crest.errors.UnknownOutcomeError` when its batch was sent but no answer came
    back (the call may or may not have run; it was not re-sent).
    """

    @property
    def errors(self) -> dict[int, CrestError]:
        return {i: r for i, r in enumerate(self) if isinstance(r, CrestError)}

    @property
    def ok(self) -> bool:
        return not any(isinstance(r, CrestError) for r in self)

    def raise_first(self) -> ManyResults:
        """Raise the first error, if any; return self otherwise."""
        for item in self:
            if isinstance(item, CrestError):
                raise item
        return self


def _run_chunk(
    client: Client,
    limiter: Limiter,
    method: str,
    params_list: Sequence[Mapping[str, Any]],
    indices: list[int],
    repeatable: bool,
    on_send: Callable[[list[int]], None] | None,
    rounds: int,
) -> dict[int, Any]:
    """One batch of up to 50 calls; re-sends only items refused by a limit (never run)."""
    out: dict[int, Any] = {}
    pending = list(indices)
    unknown = 0
    for _ in range(rounds):
        limiter.hold(method)
        cmd = {str(i): command_string(Command(method, dict(params_list[i]))) for i in pending}
        if on_send is not None:
            on_send(list(pending))
        try:
            answer = client._send("batch", {"halt": 0, "cmd": cmd}, repeatable=False).result
        except CrestError as exc:
            if _unknown_outcome(exc):
                unknown += 1
                if repeatable and unknown <= client.retry.unknown_outcome:
                    continue  # only reads: running them twice changes nothing
                lost = UnknownOutcomeError(
                    f"{method}: the batch was sent but no answer came ({exc}); the call may have run",
                    extra={"cause": str(exc)},
                )
                return {**out, **dict.fromkeys(pending, lost)}
            # Refused as a whole (limits exhausted, auth): nothing in it ran.
            return {**out, **dict.fromkeys(pending, exc)}
        part = BatchResult()
        part.absorb(answer if isinstance(answer, Mapping) else {})
        limiter.observe_batch(dict.fromkeys(cmd, method), part.times)
        again: list[int] = []
        wait_for = 0.0
        for i in pending:
            key = str(i)
            if key in part.results:
                out[i] = part.results[key]
            elif key in part.errors:
                err = part.errors[key]
                if _not_run(err):
                    again.append(i)
                    wait_for = max(wait_for, limiter.backoff(method, err) or 0.0)
                else:
                    out[i] = err
            else:
                out[i] = ProtocolError(f"the batch answer has no entry for command {key}")
        if not again:
            return out
        pending = again
        if wait_for > 0:
            time.sleep(wait_for)
    for i in pending:
        out[i] = OperationTimeLimitError(
            f"{method}: still refused by the portal's limits after {rounds} tries"
        )
    return out


def call_many(
    client: Client,
    method: str,
    params_list: Sequence[Mapping[str, Any]],
    *,
    progress: ProgressFn | None = None,
    parallel: int = 6,
    limiter: Limiter | None = None,
    idempotent: bool | None = None,
    on_send: Callable[[list[int]], None] | None = None,
    on_chunk: Callable[[list[int], list[Any]], None] | None = None,
    rounds: int = 8,
) -> ManyResults:
    """Call ``method`` once per item of ``params_list``, 50 to a batch, ``parallel`` batches at once.

    Returns a :class:`ManyResults` in input order. ``progress(done, total)`` and
    ``on_chunk(indices, results)`` run in the calling thread after each batch, so an
    exception there (a ``KeyboardInterrupt``) stops the run cleanly: no new batch is sent,
    batches already in flight are waited for and handed to ``on_chunk``, then the exception
    propagates. ``on_send(indices)`` runs in a worker thread just before a batch is sent
    (for write-ahead checkpoints).
    """
    from crest.client import is_read_method

    sender, lim = paced(client, limiter)
    repeatable = is_read_method(method) if idempotent is None else idempotent
    total = len(params_list)
    results = ManyResults([None] * total)
    groups = [list(range(s, min(s + MAX_BATCH, total))) for s in range(0, total, MAX_BATCH)]
    if not groups:
        return results
    done = 0
    pool = ThreadPoolExecutor(max_workers=max(1, min(parallel, len(groups))), thread_name_prefix="crest-many")
    futures: dict[Future[dict[int, Any]], list[int]] = {}
    reported: set[Future[dict[int, Any]]] = set()

    def deliver(fut: Future[dict[int, Any]], report: bool = True) -> None:
        nonlocal done
        reported.add(fut)
        indices = futures[fut]
        out = fut.result()
        for i in indices:
            results[i] = out[i]
        done += len(indices)
        if on_chunk is not None:
            on_chunk(indices, [out[i] for i in indices])
        if progress is not None and report:
            progress(done, total)

    width = max(1, min(parallel, len(groups)))
    queue = deque(groups)

    def submit() -> Future[dict[int, Any]]:
        g = queue.popleft()
        fut = pool.submit(_run_chunk, sender, lim, method, params_list, g, repeatable, on_send, rounds)
        futures[fut] = g
        return fut

    try:
        # A window of ``parallel`` batches, refilled as answers are handled: when a callback
        # stops the run, at most the batches already in flight are sent, never the queue.
        for _ in range(width):
            submit()
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in finished:
                deliver(fut)
                if queue:
                    remaining.add(submit())
    except BaseException:
        # Stop sending; let the batches in flight finish so their outcome is known, not lost.
        for fut in futures:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        for fut in futures:
            if fut not in reported and fut.done() and not fut.cancelled() and fut.exception() is None:
                # No progress calls here: the callback may be what raised.
                deliver(fut, report=False)
        raise
    finally:
        pool.shutdown(wait=True)
    return results


# --- list_all ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListShape:
    """How a list method spells its rows and its ID."""

    wrapper: str | None  # rows under result[wrapper] ("items", "tasks"), or result itself
    row_id: str  # the ID's key in a row
    param_id: str  # the ID's key in order/filter/select

    def rows(self, result: Any) -> list[Any]:
        if self.wrapper is not None:
            result = result.get(self.wrapper) if isinstance(result, Mapping) else None
        if isinstance(result, Mapping):  # PHP maps keyed 0..n-1 may come as objects
            result = list(result.values())
        return list(result) if isinstance(result, list) else []

    def ref(self, key: str) -> str:
        """``$result[key][49][ID]``: the ID of the last row of a full page."""
        inner = f"[{self.wrapper}]" if self.wrapper else ""
        return f"$result[{key}]{inner}[{PAGE - 1}][{self.row_id}]"

    def id_of(self, row: Any) -> int | None:
        value = row.get(self.row_id) if isinstance(row, Mapping) else None
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None


_SHAPES: dict[str, ListShape] = {
    "crm.item.list": ListShape("items", "id", "id"),
    "tasks.task.list": ListShape("tasks", "id", "ID"),
}


def list_shape(method: str) -> ListShape:
    return _SHAPES.get(method.lower(), ListShape(None, "ID", "ID"))


#: Rows one chain may hold in memory while it waits for its turn (one full answer).
BUFFER_ROWS = PAGE * MAX_BATCH


class ChainBuffer:
    """Rows a chain read ahead of its turn: in memory up to ``limit``, then in a temp file.

    Chains run in parallel but their rows go out in ID order, so every chain after the first
    reads ahead. Without a bound that is most of the table in memory; here a chain holds at
    most ``limit`` rows and spools the rest to disk (JSON lines, in order). Once it spools,
    every later row goes to the file too until it is drained, so order is kept.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._rows: deque[Any] = deque()
        self._spool: IO[str] | None = None
        self.spooled = 0  # rows written to the spool, ever

    @property
    def held(self) -> int:
        """Rows in memory now."""
        return len(self._rows)

    def put(self, rows: list[Any]) -> None:
        if self._spool is None and self.held + len(rows) <= self.limit:
            self._rows.extend(rows)
            return
        if self._spool is None:
            self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by drain/close
        for row in rows:
            self._spool.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.spooled += len(rows)

    def drain(self) -> Iterator[Any]:
        """Every row held, in order: memory first, then the spool (read back line by line)."""
        while self._rows:
            yield self._rows.popleft()
        if self._spool is not None:
            spool, self._spool = self._spool, None
            try:
                spool.seek(0)
                for line in spool:
                    yield json.loads(line)
            finally:
                spool.close()

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None


@dataclass
class _Chain:
    index: int
    last: int  # rows with ID > last are still to read
    hi: int  # ... and ID < hi
    done: bool = False
    failures: int = 0
    buffer: ChainBuffer = field(default_factory=lambda: ChainBuffer(BUFFER_ROWS))


class _Lister:
    def __init__(
        self,
        client: Client,
        limiter: Limiter,
        method: str,
        base: dict[str, Any],
        filter_: dict[str, Any],
        shape: ListShape,
        max_failures: int,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.method = method
        self.base = base
        self.filter = filter_
        self.shape = shape
        self.max_failures = max_failures
        self.requests = 0
        self._count_lock = threading.Lock()

    def _count(self) -> None:
        with self._count_lock:
            self.requests += 1

    def edge(self, direction: str) -> int | None:
        """The smallest (ASC) or largest (DESC) ID the filter admits: one page, IDs only."""
        params = {
            **self.base,
            "select": [self.shape.param_id],
            "filter": self.filter,
            "order": {self.shape.param_id: direction},
            "start": -1,
        }
        failures = 0
        while True:
            self._count()
            try:
                rows = self.shape.rows(self.client.request(self.method, params).result)
                break
            except CrestError as exc:
                failures += 1
                if not _read_again(exc) or failures > self.max_failures:
                    raise
                self._pause(exc, failures)
        ids = [i for i in (self.shape.id_of(r) for r in rows) if i is not None]
        if not ids:
            return None
        return min(ids) if direction == "ASC" else max(ids)

    def page_params(self, after: Any, hi: int) -> dict[str, Any]:
        pid = self.shape.param_id
        return {
            **self.base,
            "filter": {**self.filter, f">{pid}": after, f"<{pid}": hi},
            "order": {pid: "ASC"},
            "start": -1,
        }

    def step(self, chain: _Chain) -> tuple[BatchResult | CrestError, int]:
        """One request of a chain: as many chained pages as its ID range can still hold (<= 50)."""
        self.limiter.hold(self.method)
        # IDs are unique integers, so the range (last, hi) holds at most hi-last-1 rows: on
        # dense IDs this asks for exactly the pages needed, so no page runs on a dangling
        # reference. Sparse IDs end early at a short page.
        pages = max(1, min(MAX_BATCH, math.ceil((chain.hi - chain.last - 1) / PAGE)))
        cmd = {}
        for i in range(pages):
            after: Any = chain.last if i == 0 else self.shape.ref(f"p{i - 1}")
            cmd[f"p{i}"] = command_string(Command(self.method, self.page_params(after, chain.hi)))
        self._count()
        try:
            answer = self.client._send("batch", {"halt": 0, "cmd": cmd}, repeatable=False).result
        except CrestError as exc:
            return exc, pages
        part = BatchResult()
        part.absorb(answer if isinstance(answer, Mapping) else {})
        self.limiter.observe_batch(dict.fromkeys(cmd, self.method), part.times)
        return part, pages

    def absorb(self, chain: _Chain, outcome: BatchResult | CrestError, pages: int) -> list[Any]:
        """Take the good pages of one answer into ``chain``; return the new rows in ID order."""
        if isinstance(outcome, CrestError):
            # A list read changes nothing, so after a lost answer the chain simply goes on
            # from its last known row. Anything else (auth, bad filter) is the caller's.
            if not _read_again(outcome):
                raise outcome
            self._fail(chain, outcome)
            return []
        new: list[Any] = []
        for i in range(pages):
            key = f"p{i}"
            if key in outcome.errors:
                err = outcome.errors[key]
                if not _read_again(err):
                    raise err
                self._fail(chain, err)
                break  # later pages hang on this one's reference: discard them
            rows = self.shape.rows(outcome.results.get(key))
            for row in rows:
                rid = self.shape.id_of(row)
                if rid is None:
                    raise ProtocolError(f"{self.method}: a row without {self.shape.row_id}")
                if chain.last < rid < chain.hi:
                    new.append(row)
                    chain.last = rid
            chain.failures = 0
            if len(rows) < PAGE or chain.last >= chain.hi - 1:
                chain.done = True  # the first short page ends the chain; later pages are noise
                break
        return new

    def _fail(self, chain: _Chain, exc: CrestError) -> None:
        chain.failures += 1
        if chain.failures > self.max_failures:
            raise exc
        self._pause(exc, chain.failures)

    def _pause(self, exc: CrestError, failures: int) -> None:
        """Backoff before a read is tried again: the limiter's advice, else exponential."""
        wait_for = self.limiter.backoff(self.method, exc) if isinstance(exc, ApiError) else None
        time.sleep(wait_for if wait_for is not None else min(5.0, 0.2 * 2**failures))


def list_all(
    client: Client,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    select: Sequence[str] | None = None,
    filter: Mapping[str, Any] | None = None,
    order: Mapping[str, str] | None = None,
    parallel: int = 4,
    limiter: Limiter | None = None,
    after: int | None = None,
    progress: ProgressFn | None = None,
    stats: dict[str, Any] | None = None,
    max_failures: int = 6,
    buffer_rows: int = BUFFER_ROWS,
) -> Iterator[Any]:
    """Every row of list ``method``, each exactly once, as a generator.

    Keyset chains in parallel when the order is by ID ascending (the default); rows come out
    in ascending ID order (the caller's order on the offset path). ``after`` resumes a keyset
    read after that ID. Memory is bounded whatever ``parallel``: each chain holds at most
    ``buffer_rows`` rows ahead of its turn and spools the rest to a temp file.
    ``progress(rows, estimate)`` is called as rows come (the estimate is the ID span, an upper
    bound). ``stats``, when given, receives ``requests``, ``chains``, ``mode``, ``rows`` and,
    for keyset reads, ``max_buffered`` (the most rows held in memory at once) and ``spooled``.
    Reads that fail transiently (lost answers, limits, 5xx) are retried with backoff, up to
    ``max_failures`` times in a row.
    """
    sender, lim = paced(client, limiter)
    base = dict(params or {})
    filt = dict(filter if filter is not None else base.pop("filter", None) or {})
    base.pop("filter", None)
    order_ = dict(order if order is not None else base.pop("order", None) or {})
    base.pop("order", None)
    base.pop("start", None)
    if select is not None:
        base["select"] = list(select)
    shape = list_shape(method)
    by_id = not order_ or (
        len(order_) == 1
        and next(iter(order_)).upper() == shape.param_id.upper()
        and str(next(iter(order_.values()))).upper() == "ASC"
    )
    if after is not None and not by_id:
        raise ValueError("after= resumes keyset reads (order by ID ascending) only")
    if after is not None:
        filt[f">{shape.param_id}"] = after
    stats = stats if stats is not None else {}
    lister = _Lister(sender, lim, method, base, filt, shape, max_failures)
    if by_id:
        yield from _keyset(lister, parallel, progress, stats, buffer_rows)
    else:
        yield from _offset(lister, order_, parallel, progress, stats)


def _keyset(
    lister: _Lister, parallel: int, progress: ProgressFn | None, stats: dict[str, Any], buffer_rows: int
) -> Iterator[Any]:
    stats.update(mode="keyset", chains=0, requests=0)
    lo = lister.edge("ASC")
    hi_id = lister.edge("DESC") if lo is not None else None
    stats["requests"] = lister.requests
    if lo is None or hi_id is None:
        return
    hi = hi_id + 1
    span = hi - lo
    k = max(1, min(parallel, math.ceil(span / (PAGE * MAX_BATCH))))
    bounds = [lo + span * j // k for j in range(k + 1)]
    chains = [_Chain(j, bounds[j] - 1, bounds[j + 1], buffer=ChainBuffer(buffer_rows)) for j in range(k)]
    stats.update(chains=k, max_buffered=0, spooled=0)
    previous: int | None = None  # IDs go out strictly ascending: a repeat cannot pass unseen
    emitted = 0
    current = 0  # rows of chain ``current`` go out as they come; later chains wait in buffers
    pool = ThreadPoolExecutor(max_workers=k, thread_name_prefix="crest-list")
    running: dict[Future[tuple[BatchResult | CrestError, int]], _Chain] = {}
    try:
        for chain in chains:
            running[pool.submit(lister.step, chain)] = chain
        while running or current < k:
            if running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    chain = running.pop(fut)
                    outcome, pages = fut.result()
                    chain.buffer.put(lister.absorb(chain, outcome, pages))
                    held = sum(c.buffer.held for c in chains)
                    stats["max_buffered"] = max(stats["max_buffered"], held)
                    stats["spooled"] = sum(c.buffer.spooled for c in chains)
                    if not chain.done:
                        running[pool.submit(lister.step, chain)] = chain
            while current < k:
                chain = chains[current]
                for row in chain.buffer.drain():
                    rid = lister.shape.id_of(row)
                    if rid is None or (previous is not None and rid <= previous):
                        # Impossible by construction (chains own disjoint ranges); never let it through.
                        raise ListConsistencyError(f"{lister.method}: ID {rid} came out of order or twice")
                    previous = rid
                    emitted += 1
                    yield row
                if progress is not None:
                    progress(emitted, span)
                if not chain.done:
                    break
                current += 1
            stats["requests"] = lister.requests
    finally:
        for fut in running:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        for chain in chains:
            chain.buffer.close()
        stats["requests"] = lister.requests
        stats["rows"] = emitted


def _offset(
    lister: _Lister, order: dict[str, str], parallel: int, progress: ProgressFn | None, stats: dict[str, Any]
) -> Iterator[Any]:
    """Counted pages in the caller's order: the slow path, checked against ``total``."""
    stats.update(mode="offset", chains=0, requests=0)
    base = {**lister.base, "filter": lister.filter, "order": order}
    lister._count()
    first = lister.client.request(lister.method, {**base, "start": 0})
    total = first.total or 0
    seen: set[int] = set()
    emitted = 0

    def emit(rows: list[Any]) -> Iterator[Any]:
        nonlocal emitted
        for row in rows:
            rid = lister.shape.id_of(row)
            if rid is not None:
                if rid in seen:
                    continue  # a row that moved between pages while we read: keep one copy
                seen.add(rid)
            emitted += 1
            yield row

    yield from emit(lister.shape.rows(first.result))
    starts = list(range(PAGE, total, PAGE))
    groups = [starts[s : s + MAX_BATCH] for s in range(0, len(starts), MAX_BATCH)]

    def fetch(group: list[int]) -> dict[int, list[Any]]:
        got: dict[int, list[Any]] = {}
        todo = list(group)
        failures = 0
        while todo:
            lister.limiter.hold(lister.method)
            cmd = {f"s{s}": command_string(Command(lister.method, {**base, "start": s})) for s in todo}
            lister._count()
            try:
                answer = lister.client._send("batch", {"halt": 0, "cmd": cmd}, repeatable=False).result
            except CrestError as exc:
                if not _read_again(exc):
                    raise
                failures += 1
                if failures > lister.max_failures:
                    raise
                lister._pause(exc, failures)
                continue
            part = BatchResult()
            part.absorb(answer if isinstance(answer, Mapping) else {})
            lister.limiter.observe_batch(dict.fromkeys(cmd, lister.method), part.times)
            again = []
            pause: CrestError | None = None
            for s in todo:
                key = f"s{s}"
                if key in part.errors:
                    err = part.errors[key]
                    if not _read_again(err):
                        raise err
                    failures += 1
                    if failures > lister.max_failures:
                        raise err
                    again.append(s)
                    pause = err
                else:
                    got[s] = lister.shape.rows(part.results.get(key))
            todo = again
            if pause is not None:
                lister._pause(pause, failures)
        return got

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="crest-list") as pool:
        futures = [pool.submit(fetch, g) for g in groups]
        try:
            for fut, group in zip(futures, groups, strict=True):
                pages = fut.result()  # in order: the caller's order is the point of this path
                for s in group:
                    yield from emit(pages.get(s, []))
                if progress is not None:
                    progress(emitted, total)
        finally:
            for fut in futures:
                fut.cancel()
    stats["requests"] = lister.requests
    stats["rows"] = emitted
    if emitted != total:
        raise ListConsistencyError(
            f"{lister.method}: read {emitted} distinct rows, the portal reported {total}"
            " (rows were added or deleted during the read)"
        )
