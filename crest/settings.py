"""``Settings``: CRest's ``settings.php`` constants, and ours, in one frozen record.

Precedence, lowest first: defaults < a ``settings.py`` file (its ``C_REST_*`` and ``CREST_*``
constants) < environment variables (``CREST_*``, or the ``C_REST_*`` names) < keyword
arguments to :meth:`Settings.load`.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crest.errors import ConfigError

__all__ = ["Settings"]

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}

#: CRest's constant names for our fields (read from settings.py and from the environment).
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
    # --- CRest's constants -------------------------------------------------------------------
    web_hook_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    current_encoding: str | None = None
    block_log: bool = False
    logs_dir: str | None = None
    log_type_dump: bool = False
    ignore_ssl: bool = False
    # --- ours ---------------------------------------------------------------------------------
    oauth_token_url: str = "https://oauth.bitrix.info/oauth/token/"  # noqa: S105 - a URL, not a secret
    oauth_server_endpoint: str = "https://oauth.bitrix.info/rest/"
    ca_bundle: str | None = None
    store: str = "sqlite:var/crest.sqlite"
    connect_timeout: float = 5.0
    read_timeout: float = 65.0
    secret_key: str = ""
    operator_key: str = ""
    app_base_url: str = ""
    bx24_js_url: str = "//api.bitrix24.com/api/v1/"
    frame_ancestors: tuple[str, ...] = ()
    allow_http_portals: bool = False
    outgoing_webhook_tokens: tuple[str, ...] = ()
    events_worker: bool = True
    inbox: str | None = None
    speed: float = 1.0
    plan: str = "standard"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ignore_ssl:
            raise ConfigError(
                "C_REST_IGNORE_SSL turns off TLS certificate checks, which lets anyone on the path read "
                "and change your tokens; b24-crest refuses it. Give the portal's CA bundle instead "
                "(CREST_CA_BUNDLE / ca_bundle=)."
            )
        if self.web_hook_url is not None:
            url = self.web_hook_url.strip()
            if url and not url.startswith(("https://", "http://")):
                raise ConfigError(
                    "C_REST_WEB_HOOK_URL must be an https:// URL like https://portal/rest/1/secret/"
                )
            if url and not url.endswith("/"):
                url += "/"
            object.__setattr__(self, "web_hook_url", url or None)
        if self.current_encoding:
            try:
                codecs.lookup(self.current_encoding)
            except LookupError:
                raise ConfigError(
                    f"C_REST_CURRENT_ENCODING: unknown encoding {self.current_encoding!r}"
                ) from None
        if self.plan not in {"standard", "enterprise"}:
            raise ConfigError("CREST_PLAN must be standard or enterprise")
        if self.speed <= 0:
            raise ConfigError("CREST_SPEED must be positive")

    @property
    def mode(self) -> str | None:
        if self.web_hook_url:
            return "webhook"
        if self.client_id and self.client_secret:
            return "oauth"
        return None

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in {"client_secret", "secret_key", "operator_key"} and value:
                value = "***"
            elif f.name == "web_hook_url" and value:
                from crest.auth import mask_url

                value = mask_url(value)
            elif f.name == "outgoing_webhook_tokens" and value:
                value = ("***",) * len(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Settings from defaults, ``settings.py`` (``path``, or ``./settings.py`` if present), env, kwargs."""
        values: dict[str, Any] = {}
        file = Path(path) if path is not None else Path("settings.py")
        if path is not None and not file.is_file():
            raise ConfigError(f"settings file not found: {file}")
        if file.is_file():
            try:
                namespace = runpy.run_path(str(file))
            except Exception as exc:  # the user's own file: say where it broke
                raise ConfigError(f"cannot read {file}: {type(exc).__name__}: {exc}") from exc
            values.update(_from_constants(namespace, str(file)))
        values.update(_from_constants(os.environ if env is None else env, "environment"))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None or k in {"ca_bundle"}})
        return cls(**values)


def _convert(name: str, kind: Any, raw: Any, source: str) -> Any:
    label = f"{name.upper()} in {source}"
    text_kind = str(kind)
    if "bool" in text_kind:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{label}: expected a yes/no value, got {raw!r}")
    if "float" in text_kind:
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{label}: expected a number, got {raw!r}") from None
    if "tuple" in text_kind:
        if isinstance(raw, list | tuple):
            return tuple(str(x) for x in raw)
        return tuple(part.strip() for part in str(raw).replace(",", " ").split() if part.strip())
    if "Mapping" in text_kind:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{label}: expected a mapping")
        return dict(raw)
    return None if raw is None else str(raw)


def _from_constants(source: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if f.name == "extra":
            continue
        for key in (_CREST_NAMES.get(f.name), f"CREST_{f.name.upper()}"):
            if key and key in source:
                out[f.name] = _convert(key, f.type, source[key], where)
    return out
