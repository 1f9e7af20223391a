"""``/checkserver``: the hosting check as a web form, for the operator only.

CRest's ``checkserver.php`` is a public page; this one does not exist without
``settings.operator_key`` (404) and answers 401 without the operator's key or page token,
like ``/operator`` (:func:`webapp.operator.require_operator`). ``GET`` shows the form, ``POST`` runs
the checks: local and outbound always, and the remote ones against ``app_base_url`` when
asked. The URL is never taken from the request, so the form cannot be used to make the server
fetch arbitrary addresses. The results hold no secret (see :mod:`crest.checks`).

Checking our own public URL from inside a request needs a server that answers a second
request meanwhile (threads or several workers); with a single sync worker the remote checks
time out after a few seconds instead of hanging.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template_string, request

from crest.checks import Check, failed, local_checks, outbound_checks, remote_checks
from webapp.extension import state
from webapp.operator import NO_STORE, require_operator

__all__ = ["bp"]

bp = Blueprint("checkserver", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>checkserver</title>
<style>
body{font-family:sans-serif;margin:2em} td{padding:.2em .6em;vertical-align:top}
.ok{color:#176b00}.warn{color:#8a5a00}.fail{color:#b00020;font-weight:bold}
</style></head><body>
<h1>Hosting check</h1>
<form method="post">
  <input type="hidden" name="operator_token" value="{{ operator_token }}">
  <label><input type="checkbox" name="remote" value="1" {{ 'disabled' if not base_url }}>
  also check the public URL {{ base_url or '(set CREST_APP_BASE_URL to enable)' }}</label>
  <button type="submit">Run checks</button>
</form>
{% if checks is not none %}
<p class="{{ 'fail' if any_failed else 'ok' }}">{{ 'Some checks failed.' if any_failed else 'Nothing failed.' }}</p>
<table>
{% for c in checks %}
<tr><td class="{{ c.status }}">{{ c.status }}</td><td>{{ c.check }}</td>
<td>{{ c.detail }}{% if c.fix and c.status != 'ok' %}<br><i>fix: {{ c.fix }}</i>{% endif %}</td></tr>
{% endfor %}
</table>
{% endif %}
</body></html>
"""


@bp.get("/checkserver")
def form() -> Any:
    token = require_operator()
    base_url = state().settings.app_base_url
    page = render_template_string(
        _PAGE, checks=None, base_url=base_url, any_failed=False, operator_token=token
    )
    return page, 200, NO_STORE


@bp.post("/checkserver")
def run() -> Any:
    token = require_operator()
    crest = state()
    settings = crest.settings
    static = [current_app.static_folder] if current_app.static_folder else []
    checks: list[Check] = local_checks(settings, static_folders=static)
    checks.extend(outbound_checks(settings, store=crest.store))
    if request.form.get("remote") and settings.app_base_url:
        checks.extend(remote_checks(settings.app_base_url, settings, store=crest.store))
    if request.args.get("format") == "json":
        return jsonify([c.as_dict() for c in checks]), 200, NO_STORE
    page = render_template_string(
        _PAGE, checks=checks, base_url=settings.app_base_url, any_failed=failed(checks), operator_token=token
    )
    return page, 200, NO_STORE
