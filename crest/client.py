"""``Client``: the one place that sends HTTP to a Bitrix24 portal.

It sends what CRest sends (``http_build_query`` bodies, ``auth`` in the body, never in the
URL), verifies TLS always, never follows redirects blindly, renews tokens once on
``expired_token``, and retries only what cannot apply twice:

* ``QUERY_LIMIT_EXCEEDED`` (503) and connection failures before the request was sent:
  always, with backoff;
* a timeout, a dropped connection or a 5xx without an error code: only for read methods, or
  when the caller says the call is idempotent. A write whose outcome is unknown is raised
  as :class:`~crest.errors.UnknownOutcomeError`, never re-sent blindly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests

from crest import __version__
from crest.auth import AppAuth, Auth, WebhookAuth, mask_url
from crest.batch import (
    MAX_BATCH,
    BatchResult,
    Command,
    CommandLike,
    chunks,
    command_string,
    normalise_commands,
)
from crest.encoding import from_utf8, to_utf8
from crest.errors import (
    ApiError,
    ConnectError,
    DomainChangedError,
    ExpiredTokenError,
    InvalidTokenError,
    ProtocolError,
    QueryLimitExceededError,
    ServerError,
    TransportError,
    UnknownOutcomeError,
    api_error,
)
from crest.forms import encode

if TYPE_CHECKING:
    from crest.bulk import ManyResults
    from crest.settings import Settings
    from crest.stores.base import InstallationStore

__all__ = ["Client", "Limiter", "Response", "RetryPolicy", "is_read_method"]

log = logging.getLogger("crest")

USER_AGENT = f"b24-crest/{__version__} (Python; CRest-compatible)"

#: Last name segments of methods that only read; safe to repeat after an unknown outcome.
_READ_VERBS = frozenset({"get", "list", "fields", "current", "time", "info", "search", "count", "findbycomm"})
_READ_METHODS = frozenset({"scope", "methods", "profile", "method.get", "feature.get", "events"})


def is_read_method(method: str) -> bool:
    name = method.lower()
    return name in _READ_METHODS or name.rsplit(".", 1)[-1] in _READ_VERBS


@dataclass(frozen=True)
class Response:
    """A successful answer: ``result`` plus the envelope's ``total``, ``next`` and ``time``."""

    result: Any
    total: int | None = None
    next: int | None = None
    time: Mapping[str, Any] = field(default_factory=dict)
    status: int = 200

    def envelope(self) -> dict[str, Any]:
        """The answer as Bitrix24 sent it (and CRest returns it): result, total, next, time."""
        body: dict[str, Any] = {"result": self.result}
        if self.total is not None:
            body["total"] = self.total
        if self.next is not None:
            body["next"] = self.next
        body["time"] = dict(self.time)
        return body


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Budgets are per request, never shared between requests."""

    #: Retries of 503 QUERY_LIMIT_EXCEEDED (never executed, so always safe).
    rate_limited: int = 8
    #: Retries of a request that was never sent (connection refused, DNS, connect timeout).
    not_sent: int = 3
    #: Retries after an unknown outcome, for read or idempotent calls only.
    unknown_outcome: int = 2
    backoff: float = 0.5
    backoff_cap: float = 10.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter (attempt counts from 1)."""
        return float(random.uniform(0, min(self.backoff_cap, self.backoff * 2 ** (attempt - 1))))


class Limiter(Protocol):
    """Client-side pacing (see :mod:`crest.limits`); the default does none, like CRest."""

    def acquire(self, method: str) -> None: ...

    def observe(self, method: str, time_block: Mapping[str, Any] | None) -> None: ...

    def backoff(self, method: str, error: ApiError) -> float | None: ...


class NoLimiter:
    def acquire(self, method: str) -> None:
        pass

    def observe(self, method: str, time_block: Mapping[str, Any] | None) -> None:
        pass

    def backoff(self, method: str, error: ApiError) -> float | None:
        return None


def _not_sent(exc: BaseException) -> bool:
    """True when urllib3 failed before any byte of the request left (refused, DNS, connect)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if type(item).__name__ in {"NewConnectionError", "NameResolutionError", "ConnectTimeoutError"}:
            return True
        stack.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
        stack.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
    return False


def _settings_kwargs(settings: Settings, kwargs: dict[str, Any]) -> None:
    """Client options that CRest's constants imply: encoding, masked logging, call logs."""
    from crest.logs import get_logger, write_log

    get_logger(settings)  # installs the masking filter on the "crest" loggers
    if settings.current_encoding:
        kwargs.setdefault("encoding", settings.current_encoding)
    if settings.logs_dir and not settings.block_log:
        kwargs.setdefault("call_log", lambda record, type_: write_log(settings, record, type_))


class Client:
    """A Bitrix24 REST client for one portal (one webhook, or one app installation)."""

    def __init__(
        self,
        auth: Auth,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 65.0),
        ca_bundle: str | None = None,
        retry: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        encoding: str | None = None,
        call_log: Callable[[Mapping[str, Any], str], object] | None = None,
    ) -> None:
        self.auth = auth
        #: C_REST_CURRENT_ENCODING: parameters given as ``bytes`` in this encoding are sent as
        #: UTF-8, and results come back as ``bytes`` in it, as CRest converts them.
        self.encoding = encoding
        #: Receives one record per HTTP exchange (CRest's ``callCurl`` / ``exceptionCurl`` logs).
        self._call_log = call_log
        self.session = session or requests.Session()
        self.timeout = timeout
        # TLS verification is always on; a private CA (on-premise, the local portal) is given
        # as a bundle, never by turning checks off.
        self.verify: str | bool = ca_bundle or True
        self.retry = retry or RetryPolicy()
        self.limiter: Limiter = limiter or NoLimiter()
        self._sleep = sleep

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_webhook(cls, url: str, **kwargs: Any) -> Client:
        """A client for an incoming webhook URL (``https://portal/rest/1/secret/``)."""
        return cls(WebhookAuth(url), **kwargs)

    @classmethod
    def for_portal(
        cls,
        member_id: str | None = None,
        *,
        store: InstallationStore | None = None,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> Client:
        """A client acting as the local application installed on portal ``member_id``.

        Tokens come from ``store`` (default: the one in ``settings``) and are renewed in
        place; the OAuth server's address comes from ``settings``.
        """
        from crest.oauth import OAuthClient
        from crest.settings import Settings
        from crest.stores import open_store

        settings = settings or Settings.load()
        store = store or open_store(settings.store)
        _settings_kwargs(settings, kwargs)
        session = kwargs.pop("session", None) or requests.Session()
        ca_bundle = kwargs.pop("ca_bundle", None) or settings.ca_bundle
        timeout = kwargs.pop("timeout", None) or (settings.connect_timeout, settings.read_timeout)
        oauth = OAuthClient.from_settings(settings, session)
        auth = AppAuth(member_id, store, oauth, clock=clock)
        return cls(auth, session=session, ca_bundle=ca_bundle, timeout=timeout, **kwargs)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> Client:
        """Webhook mode when ``C_REST_WEB_HOOK_URL`` is set, otherwise the single installed portal."""
        from crest.settings import Settings

        settings = settings or Settings.load()
        if settings.web_hook_url:
            _settings_kwargs(settings, kwargs)
            kwargs.setdefault("ca_bundle", settings.ca_bundle)
            kwargs.setdefault("timeout", (settings.connect_timeout, settings.read_timeout))
            return cls.from_webhook(settings.web_hook_url, **kwargs)
        return cls.for_portal(None, settings=settings, **kwargs)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- calls --------------------------------------------------------------------------------

    def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, idempotent: bool | None = None
    ) -> Any:
        """Call ``method`` and return its ``result``; raise a :class:`CrestError` subclass on failure."""
        return self.request(method, params, idempotent=idempotent).result

    def request(
        self, method: str, params: Mapping[str, Any] | None = None, *, idempotent: bool | None = None
    ) -> Response:
        """Call ``method`` and return the whole :class:`Response` (``total``, ``next``, ``time``)."""
        repeatable = is_read_method(method) if idempotent is None else idempotent
        response = self._send(method, self._outgoing(dict(params or {})), repeatable)
        if self.encoding:
            response = dataclasses.replace(response, result=from_utf8(response.result, self.encoding))
        return response

    def _outgoing(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.encoding:
            converted: dict[str, Any] = to_utf8(params, self.encoding)
            return converted
        return params

    def _log(self, record: Mapping[str, Any], type_: str) -> None:
        if self._call_log is not None:
            try:
                self._call_log(record, type_)
            except OSError as exc:  # a full disk must not fail the call itself
                log.warning("could not write the call log: %s", exc)

    def _send(self, method: str, params: dict[str, Any], repeatable: bool) -> Response:
        rate_limited = not_sent = unknown = 0
        renewed = moved = False
        while True:
            token = self.auth.token()
            url = f"{self.auth.endpoint()}{method}.json"
            body = encode({**params, "auth": token} if token else params)
            self.limiter.acquire(method)
            try:
                status, headers, payload = self._http(url, body)
            except TransportError as exc:
                self._log(
                    {"url": mask_url(url), "method": method, "params": params, "error": str(exc)},
                    "exceptionCurl",
                )
                if not isinstance(exc, ConnectError | UnknownOutcomeError):
                    raise
                if isinstance(exc, UnknownOutcomeError):
                    unknown += 1
                    if not repeatable or unknown > self.retry.unknown_outcome:
                        raise
                    self._sleep(self.retry.delay(unknown))
                    continue
                not_sent += 1
                if not_sent > self.retry.not_sent:
                    raise
                self._sleep(self.retry.delay(not_sent))
                continue
            self._log(
                {
                    "url": mask_url(url),
                    "method": method,
                    "params": params,
                    "status": status,
                    "answer": payload[:65536].decode("utf-8", "replace"),
                },
                "callCurl",
            )
            if status in {301, 302, 303, 307, 308}:
                if moved:
                    raise DomainChangedError("the portal redirected twice", status=status)
                self._follow_move(url, headers.get("Location", ""), status)
                moved = True
                continue
            try:
                response = self._parse(status, payload)
            except QueryLimitExceededError as exc:
                rate_limited += 1
                if rate_limited > self.retry.rate_limited:
                    raise
                wait = self.limiter.backoff(method, exc)
                self._sleep(wait if wait is not None else self.retry.delay(rate_limited))
                continue
            except (ExpiredTokenError, InvalidTokenError):
                if renewed or not self.auth.renew(token):
                    raise
                renewed = True
                continue
            except ServerError as exc:
                unknown += 1
                if exc.code or not repeatable or unknown > self.retry.unknown_outcome:
                    raise
                self._sleep(self.retry.delay(unknown))
                continue
            except ApiError as exc:
                wait = self.limiter.backoff(method, exc)
                if wait is None:
                    raise
                self._sleep(wait)
                continue
            self.limiter.observe(method, response.time)
            return response

    def _http(self, url: str, body: str) -> tuple[int, Mapping[str, str], bytes]:
        log.debug("POST %s", mask_url(url))
        try:
            if body:
                resp = self.session.post(
                    url,
                    data=body.encode("ascii"),
                    headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT},
                    timeout=self.timeout,
                    allow_redirects=False,
                    verify=self.verify,
                )
            else:  # CRest sends a GET with no query when there are no parameters
                resp = self.session.get(
                    url,
                    headers={"User-Agent": USER_AGENT},
                    timeout=self.timeout,
                    allow_redirects=False,
                    verify=self.verify,
                )
        except requests.exceptions.SSLError as exc:
            raise TransportError(
                f"TLS verification of {urlsplit(url).netloc} failed",
                code="ssl_error",
                hint=(
                    "Give the portal's CA bundle: --ca-bundle FILE on the crest command, CREST_CA_BUNDLE "
                    "(settings.py or the environment), or ca_bundle= in code; never turn the checks off."
                ),
            ) from exc
        except requests.RequestException as exc:
            if _not_sent(exc):
                raise ConnectError(
                    f"could not connect to {urlsplit(url).netloc}: {type(exc).__name__}"
                ) from exc
            raise UnknownOutcomeError(
                f"no answer from {urlsplit(url).netloc} ({type(exc).__name__}); the call may have run"
            ) from exc
        return resp.status_code, resp.headers, resp.content

    def _follow_move(self, url: str, location: str, status: int) -> None:
        target = urlsplit(urljoin(url, location))
        if not target.netloc or target.netloc == urlsplit(url).netloc:
            raise ProtocolError(f"unexpected redirect (HTTP {status})", status=status)
        log.warning("portal answered %s to %s; verifying the move", status, target.netloc)
        if not self.auth.follow_move(target.netloc):
            raise DomainChangedError(
                f"the portal redirected to {target.netloc}, which could not be verified as the same portal",
                status=status,
                extra={"new_domain": target.netloc},
            )

    @staticmethod
    def _parse(status: int, payload: bytes) -> Response:
        try:
            body = json.loads(payload)
        except ValueError:
            if status >= 500:
                raise api_error("", f"HTTP {status} without a Bitrix24 answer", status=status) from None
            raise ProtocolError(f"the portal answered HTTP {status} without JSON", status=status) from None
        if not isinstance(body, dict):
            raise ProtocolError("the portal answered with JSON that is not an object", status=status)
        # An error is the presence of the key, not a truthy code: legacy CRM methods send "".
        if "error" in body:
            extra = {k: v for k, v in body.items() if k not in {"error", "error_description"}}
            raise api_error(
                str(body["error"] or ""), str(body.get("error_description") or ""), status=status, extra=extra
            )
        if "result" not in body:
            raise ProtocolError("the portal answered without a result", status=status)
        time_block = body.get("time") if isinstance(body.get("time"), dict) else {}
        return Response(
            result=body["result"],
            total=int(body["total"]) if body.get("total") is not None else None,
            next=int(body["next"]) if body.get("next") is not None else None,
            time=time_block or {},
            status=status,
        )

    # --- batch --------------------------------------------------------------------------------

    def batch(
        self,
        commands: Mapping[Any, CommandLike] | Sequence[CommandLike],
        halt: bool = False,
    ) -> BatchResult:
        """Run any number of commands, 50 to a request, in order, with ``$result[..]`` references.

        Nothing is dropped (CRest silently drops commands past 50). References to commands of
        an earlier request are resolved here, with the server's rules. With ``halt``, the
        first failing command stops the rest; those that did not run are absent from the result.
        """
        pairs = normalise_commands(commands)
        result = BatchResult()
        for chunk in chunks(pairs, MAX_BATCH):
            cmd = {
                key: command_string(Command(c.method, result.resolve(self._outgoing(dict(c.params)))))
                for key, c in chunk
            }
            # A batch is never re-sent after an unknown outcome: its writes could apply twice.
            answer = self._send("batch", {"halt": 1 if halt else 0, "cmd": cmd}, repeatable=False).result
            if self.encoding and isinstance(answer, Mapping):
                # Only the commands' results: error codes and timings stay text.
                answer = {**answer, "result": from_utf8(answer.get("result"), self.encoding)}
            result.absorb(answer if isinstance(answer, Mapping) else {})
            if halt and result.errors:
                break
        return result

    def iter_batches(
        self, commands: Sequence[tuple[str, Command]], size: int = MAX_BATCH
    ) -> Iterator[BatchResult]:
        """Run prepared ``(key, Command)`` pairs chunk by chunk, yielding each chunk's result."""
        for chunk in chunks(list(commands), size):
            cmd = {key: command_string(c) for key, c in chunk}
            answer = self._send("batch", {"halt": 0, "cmd": cmd}, repeatable=False).result
            part = BatchResult()
            part.absorb(answer if isinstance(answer, Mapping) else {})
            yield part

    # --- bulk (crest.bulk) ---------------------------------------------------------------------

    def call_many(
        self,
        method: str,
        params_list: Sequence[Mapping[str, Any]],
        *,
        progress: Callable[[int, int], None] | None = None,
        **kwargs: Any,
    ) -> ManyResults:
        """Call ``method`` once per params, 50 to a batch, paced; results in input order.

        A failed item holds its :class:`CrestError` instead of a result (see
        :class:`crest.bulk.ManyResults`); a write whose batch got no answer holds an
        :class:`UnknownOutcomeError` and is never re-sent.
        """
        from crest.bulk import call_many

        return call_many(self, method, params_list, progress=progress, **kwargs)

    def list_all(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        select: Sequence[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        parallel: int = 4,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Every row of a list method exactly once, streamed (keyset chains in parallel)."""
        from crest.bulk import list_all

        return list_all(self, method, params, select=select, filter=filter, parallel=parallel, **kwargs)

    def __repr__(self) -> str:
        return f"Client({self.auth!r})"
