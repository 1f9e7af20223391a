"""Configuration: CRest's ``settings.php`` constants, plus what the Python kit needs.

Where a value comes from, lowest to highest precedence:

1. the defaults of :class:`Settings`;
2. a ``settings.py`` file: its UPPER_CASE ``C_REST_*`` (CRest's names) and ``CREST_*`` constants.
   It is executed like any Python module, since it is the operator's own configuration;
3. environment variables: ``CREST_<FIELD>`` (``CREST_WEB_HOOK_URL``, ``CREST_CLIENT_SECRET``,
   ``CREST_CA_BUNDLE``, ``CREST_STORE``...) and CRest's ``C_REST_*`` names;
4. keyword arguments of :meth:`Settings.load`.

Every value is checked when the object is built, so a bad setting fails at start-up with a
:class:`~crest.errors.ConfigError` that names it, not at the first request. One CRest constant
is refused outright: ``C_REST_IGNORE_SSL`` turns TLS certificate checks off, which hands the
tokens to anyone on the network path; ``ca_bundle`` is the safe way to trust a private CA.
"""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import os
import re
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from crest.errors import ConfigError
from crest.installation import mask_secret

__all__ = ["Settings"]

Mode = Literal["webhook", "oauth"]

_TRUE = frozenset({"1", "true", "yes", "on", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "n", ""})
_PLANS = ("standard", "enterprise")
# /rest/{user_id}/{secret}/: the shape of every Bitrix24 incoming-webhook URL.
_WEBHOOK_PATH = re.compile(r"(?P<prefix>.*/rest/\d+/)(?P<secret>[^/]+)/\Z")

# CRest's constant for each field that has one; every field is also CREST_<FIELD>.
_CREST_NAMES = {
    "web_hook_url": "C_REST_WEB_HOOK_URL",
    "client_id": "C_REST_CLIENT_ID",
    "client_secret": "C_REST_CLIENT_SECRET",
    "current_encoding": "C_REST_CURRENT_ENCODING",
    "block_log": "C_REST_BLOCK_LOG",
    "logs_dir": "C_REST_LOGS_DIR",
    "log_type_dump": "C_REST_LOG_TYPE_DUMP",
    "ignore_ssl": "C_REST_IGNORE_SSL",
}


@dataclass(frozen=True)
class Settings:
    """All settings of the client, the web application and the local portal's client side.

    Build it with :meth:`load` (files and environment) or directly (values only, still checked).
    ``repr()`` masks the secrets, so a settings object can be logged.
    """

    # --- CRest's constants ---------------------------------------------------------------
    #: C_REST_WEB_HOOK_URL: an incoming webhook, ``https://portal/rest/{user_id}/{secret}/``.
    #: A missing final "/" is added, as CRest appends the method name directly.
    web_hook_url: str | None = None
    #: C_REST_CLIENT_ID / C_REST_CLIENT_SECRET: the local application's OAuth credentials.
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    #: C_REST_CURRENT_ENCODING: the calling site's charset (e.g. "windows-1251"); see crest.encoding.
    current_encoding: str | None = None
    #: C_REST_BLOCK_LOG: no log files at all.
    block_log: bool = False
    #: C_REST_LOGS_DIR: where log files go; unset means no log files (CRest's default folder
    #: sits next to the code, usually inside the web root).
    logs_dir: str | None = None
    #: C_REST_LOG_TYPE_DUMP: log files as a Python repr (.txt) instead of JSON.
    log_type_dump: bool = False
    #: C_REST_IGNORE_SSL: accepted only as false; true is refused (use ca_bundle).
    ignore_ssl: bool = False

    # --- ours ----------------------------------------------------------------------------
    #: Bitrix24's OAuth server: token requests.
    oauth_token_url: str = "https://oauth.bitrix.info/oauth/token/"  # noqa: S105 - a URL, not a password
    #: The OAuth server's REST endpoint, where ``app.info`` verifies an installation's tokens.
    oauth_server_endpoint: str = "https://oauth.bitrix.info/rest/"
    #: A CA bundle (file or directory) for portals with a private CA; None: the system's.
    ca_bundle: str | None = None
    #: The installation store: "sqlite:PATH", "json:PATH", "memory:", "postgresql://..." (many
    #: hosts; the postgres extra). Relative paths are
    #: relative to the working directory; keep the store outside any web-served folder.
    store: str = "sqlite:var/crest.sqlite"
    #: Seconds to wait for a connection, and then for the answer (Bitrix24 lets a method run
    #: for up to a minute).
    connect_timeout: float = 5.0
    read_timeout: float = 65.0
    #: Signs the web application's page tokens; required by the web application.
    secret_key: str = field(default="", repr=False)
    #: Opens the web application's operator pages; empty means those pages do not exist.
    operator_key: str = field(default="", repr=False)
    #: The web application's public base URL (handler and event URLs are built from it).
    app_base_url: str | None = None
    #: Where pages load BX24.js from.
    bx24_js_url: str = "//api.bitrix24.com/api/v1/"
    #: Extra origins allowed to frame the application (on-premise portals), e.g. "https://b24.corp".
    frame_ancestors: tuple[str, ...] = ()
    #: Time scale of the local portal's limits (2.0 = twice as fast); 1.0 is Bitrix24's.
    speed: float = 1.0
    #: The portal's plan, which sets Bitrix24's request-rate limits.
    plan: str = "standard"
    #: Accept http:// portal endpoints in install deliveries: for the local portal only.
    allow_http_portals: bool = False
    #: Tokens of the portal's outgoing webhooks that the events endpoint accepts (secrets),
    #: each bound to its portal: ``"MEMBER_ID=TOKEN"`` or ``"DOMAIN=TOKEN"``. A token is
    #: accepted only in a delivery that names that portal (the token alone says nothing about
    #: which portal sent it).
    outgoing_webhook_tokens: tuple[str, ...] = field(default=(), repr=False)
    #: "thread": the web process runs the event handlers; "off": a separate ``crest worker`` does.
    events_worker: str = "thread"
    #: Events bound at install besides those the router handles; empty: CRM add/update/delete.
    events: tuple[str, ...] = ()
    #: The events inbox database; None: next to the store.
    inbox: str | None = None
    #: Seconds a ``crest worker`` holds an event without renewing (renewed while its handler
    #: runs): how soon another worker takes over the events of one that died.
    worker_lease: float = 30.0

    _SECRETS: ClassVar[tuple[str, ...]] = ("client_secret", "secret_key", "operator_key")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _coerce(f.name, f.type, getattr(self, f.name), f"setting {f.name!r}")
            object.__setattr__(self, f.name, value)
        self._check()

    def _check(self) -> None:
        if self.ignore_ssl:
            raise ConfigError(
                "C_REST_IGNORE_SSL is true: that turns TLS certificate checks off, so anyone on the "
                "network path could read or change the requests and their tokens. Remove it; for a "
                "portal with a private or self-signed CA set ca_bundle (CREST_CA_BUNDLE) to its CA file."
            )
        if self.web_hook_url is not None:
            object.__setattr__(self, "web_hook_url", _webhook_url(self.web_hook_url))
        if self.current_encoding is not None:
            try:
                codecs.lookup(self.current_encoding)
            except LookupError:
                raise ConfigError(
                    f"current_encoding (C_REST_CURRENT_ENCODING) {self.current_encoding!r} is not an "
                    "encoding Python knows; use a name such as 'windows-1251' or 'utf-8'"
                ) from None
        for name in ("oauth_token_url", "oauth_server_endpoint"):
            _http_url(name, getattr(self, name), require_https=not self.allow_http_portals)
        if self.app_base_url is not None:
            _http_url("app_base_url", self.app_base_url, require_https=False)
        if self.ca_bundle is not None and not os.path.exists(self.ca_bundle):
            raise ConfigError(f"ca_bundle {self.ca_bundle!r} does not exist")
        if not self.store:
            raise ConfigError("store must not be empty (e.g. 'sqlite:var/crest.sqlite')")
        for name in ("connect_timeout", "read_timeout", "speed", "worker_lease"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.events_worker.lower() not in ("thread", "off"):
            raise ConfigError(f"events_worker must be 'thread' or 'off', not {self.events_worker!r}")
        for entry in self.outgoing_webhook_tokens:
            portal, sep, token = entry.partition("=")
            if not sep or not portal.strip() or not token.strip():
                raise ConfigError(
                    "outgoing_webhook_tokens (CREST_OUTGOING_WEBHOOK_TOKENS): each token must name its "
                    "portal, as 'MEMBER_ID=TOKEN' or 'DOMAIN=TOKEN' (the domain the portal is opened at), "
                    f"not {mask_secret(entry)!r}"
                )
        if self.plan not in _PLANS:
            raise ConfigError(f"plan must be one of {', '.join(_PLANS)}, not {self.plan!r}")

    @property
    def mode(self) -> Mode | None:
        """ "webhook" with a webhook URL (it wins, as in CRest), "oauth" with client id and
        secret, otherwise None (not configured for REST calls)."""
        if self.web_hook_url:
            return "webhook"
        if self.client_id and self.client_secret:
            return "oauth"
        return None

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self._SECRETS and value:
                shown = repr(mask_secret(value))
            elif f.name == "web_hook_url" and value:
                shown = repr(_mask_webhook(value))
            elif f.name == "outgoing_webhook_tokens":
                shown = repr(tuple(_mask_bound_token(t) for t in value))
            else:
                shown = repr(value)
            parts.append(f"{f.name}={shown}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    # --- loading -------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Defaults < ``settings.py`` at ``path`` < environment < ``overrides``.

        ``path`` None reads ``./settings.py`` when it exists; a given path must exist. ``env``
        None reads ``os.environ``; pass ``{}`` to ignore the environment (tests, demos).
        ``overrides`` use the field names (``client_id=...``); None values are ignored, so
        optional command-line options can be passed through as they are.
        """
        values: dict[str, Any] = {}
        if path is None:
            default = Path("settings.py")
            if default.is_file():
                values.update(_from_file(default))
        else:
            if not Path(path).is_file():
                raise ConfigError(f"settings file {os.fspath(path)!r} does not exist")
            values.update(_from_file(Path(path)))
        values.update(_from_mapping(os.environ if env is None else env, "environment variable", strict=False))
        known = {f.name for f in dataclasses.fields(cls)}
        for name, value in overrides.items():
            if name not in known:
                raise ConfigError(f"unknown setting {name!r}{_did_you_mean(name, known)}")
            if value is not None:
                values[name] = value
        return cls(**values)


# --- helpers ------------------------------------------------------------------------------


def _names() -> dict[str, str]:
    """Every accepted constant or variable name -> field name."""
    names = {f"CREST_{f.name.upper()}": f.name for f in dataclasses.fields(Settings)}
    names.update({const: name for name, const in _CREST_NAMES.items()})
    return names


def _from_file(path: Path) -> dict[str, Any]:
    try:
        namespace = runpy.run_path(os.fspath(path), run_name="crest_settings")
    except Exception as exc:
        raise ConfigError(
            f"settings file {os.fspath(path)!r} failed to run: {type(exc).__name__}: {exc}"
        ) from exc
    constants = {k: v for k, v in namespace.items() if re.fullmatch(r"(C_REST|CREST)_[A-Z0-9_]+", k)}
    return _from_mapping(constants, f"{os.fspath(path)}:", strict=True)


def _from_mapping(source: Mapping[str, Any], where: str, *, strict: bool) -> dict[str, Any]:
    """Field values from constants/variables. ``strict``: an unknown C_REST_* name is an error
    (a typo in settings.py would otherwise be silently ignored). Other CREST_* names belong to
    other parts of the kit and are left alone."""
    names = _names()
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in source.items():
        name = names.get(key)
        if name is None:
            if strict and key.startswith("C_REST_"):
                raise ConfigError(f"{where} {key} is not a CRest setting{_did_you_mean(key, names)}")
            continue
        if name in out and out[name] != value:
            raise ConfigError(f"{where} {origin[name]} and {key} are both set, to different values; keep one")
        label = f"{where} {key}"
        ftype = next(f.type for f in dataclasses.fields(Settings) if f.name == name)
        out[name] = _coerce(name, ftype, value, label)
        origin[name] = key
    return out


def _did_you_mean(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _coerce(name: str, ftype: Any, value: Any, label: str) -> Any:
    """``value`` as the field's type; strings from files and the environment are parsed."""
    kind = str(ftype)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{label} must be a boolean (1/0, true/false, yes/no, on/off), not {value!r}")
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{label} must be a number, not {value!r}")
    if kind == "tuple[str, ...]":
        items = value.replace(",", " ").split() if isinstance(value, str) else value
        if isinstance(items, list | tuple) and all(isinstance(i, str) for i in items):
            return tuple(items)
        raise ConfigError(f"{label} must be a list of strings or a comma-separated string, not {value!r}")
    if kind == "str | None":
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # an empty variable means "not set"
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, str):
            return value.strip()
        raise ConfigError(f"{label} must be a string, not {type(value).__name__}")
    if kind == "str":
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, str):
            return value.strip()
        raise ConfigError(f"{label} must be a string, not {type(value).__name__}")
    raise AssertionError(f"no coercion for {name}: {kind}")  # a field added without one


def _webhook_url(url: str) -> str:
    if not url.endswith("/"):
        url += "/"  # CRest appends "method.json" to it directly
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            "web_hook_url (C_REST_WEB_HOOK_URL) must be an http(s) URL such as https://portal/rest/1/secret/"
        )
    if parts.query or parts.fragment or not _WEBHOOK_PATH.fullmatch(parts.path):
        raise ConfigError(
            "web_hook_url (C_REST_WEB_HOOK_URL) must look like https://portal/rest/{user_id}/{secret}/ "
            f"(got {_mask_webhook(url)!r})"
        )
    return url


def _mask_bound_token(entry: str) -> str:
    portal, sep, token = entry.partition("=")
    return f"{portal}={mask_secret(token)}" if sep else mask_secret(entry)


def _mask_webhook(url: str) -> str:
    match = _WEBHOOK_PATH.fullmatch(url)
    if match is None:
        # Not the usual shape: keep the scheme and host only; the rest may be the secret.
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "…"
    return match.group("prefix") + mask_secret(match.group("secret")) + "/"


def _http_url(name: str, url: str, *, require_https: bool) -> None:
    parts = urlsplit(url)
    # Plain http to loopback never leaves the machine (the local portal); anywhere else it
    # would carry client_secret and tokens in clear text.
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    allowed = ("https",) if require_https and not loopback else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        need = "an https:// URL" if "http" not in allowed else "an http(s):// URL"
        raise ConfigError(f"{name} must be {need}, not {url!r}")
