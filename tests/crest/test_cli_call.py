"""``crest call``: the request generator of Developer resources on the command line."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from crest.cli import main
from portal.testing import PortalHandle


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["call", *args], env={"CREST_WEB_HOOK_URL": ""})
    return result.exit_code, result.stdout, result.stderr


def test_call_prints_masked_url_and_result(portal: PortalHandle) -> None:
    code, out, err = run("user.current", "--webhook", portal.webhook_url)
    assert code == 0
    secret = portal.portal.default_webhook["secret"]
    assert secret not in out + err
    assert f"/rest/1/{secret[:2]}…/user.current.json" in err
    assert json.loads(out)["NAME"] == "Maria"


def test_php_style_parameters_and_json_envelope(portal: PortalHandle) -> None:
    code, out, _ = run(
        "crm.contact.add",
        "fields[NAME]=Ann",
        "fields[PHONE][0][VALUE]=+1 555 0100",
        "--webhook",
        portal.webhook_url,
    )
    assert code == 0
    contact_id = int(out)
    code, out, _ = run(
        "crm.contact.list",
        "filter[ID]=" + str(contact_id),
        "select[]=ID",
        "select[]=PHONE",
        "--webhook",
        portal.webhook_url,
        "--json",
    )
    body = json.loads(out)
    assert body["total"] == 1
    assert body["result"][0]["PHONE"][0]["VALUE"] == "+1 555 0100"
    assert "time" in body


def test_code_prints_a_snippet_that_runs(portal: PortalHandle) -> None:
    code, out, _ = run("user.get", "FILTER[ID]=2", "--code")
    assert code == 0
    snippet = out.replace("https://YOUR-PORTAL/rest/1/YOUR-SECRET/", portal.webhook_url)
    ran = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, check=True, timeout=60
    )
    assert "'ID': '2'" in ran.stdout
    assert portal.count("user.get") == 1


def test_errors_are_one_clear_line_without_traceback(portal: PortalHandle) -> None:
    code, out, err = run("no.such.method", "--webhook", portal.webhook_url)
    assert code == 1
    assert "MethodNotFoundError" in err and "ERROR_METHOD_NOT_FOUND" in err
    assert "Traceback" not in out + err
    code, _, err = run("user.current", "broken-pair", "--webhook", portal.webhook_url)
    assert code == 2 and "key=value" in err


def test_no_webhook_and_no_settings_is_a_clear_error() -> None:
    result = CliRunner().invoke(
        main, ["call", "user.current"], env={"CREST_WEB_HOOK_URL": "", "CREST_STORE": "memory:"}
    )
    assert result.exit_code == 1
    assert "--webhook" in result.output
    assert "Traceback" not in result.output


def test_hostile_parameter_names_are_one_line_and_send_nothing(portal: PortalHandle) -> None:
    """Issue 10, item 5: a 4301-digit index was a ValueError traceback; now one line, exit 1."""
    portal.clear_requests()
    for pair in ("a[" + "1" * 4301 + "]=x", "1" * 4301 + "=x", "a" + "[x]" * 70 + "=1"):
        result = CliRunner().invoke(
            main,
            ["call", "crm.contact.add", pair, "--webhook", portal.webhook_url],
            env={"CREST_WEB_HOOK_URL": ""},
        )
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: invalid PARAMS: form field")
        assert "Traceback" not in result.output
    assert portal.requests() == []
