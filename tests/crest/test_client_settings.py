"""What CRest's constants do to a client built from settings: encoding and masked call logs."""

from __future__ import annotations

from pathlib import Path

from crest.client import Client
from crest.settings import Settings
from portal.testing import PortalHandle


def test_current_encoding_converts_parameters_and_results(portal: PortalHandle) -> None:
    settings = Settings.load(None, env={}, web_hook_url=portal.webhook_url, current_encoding="windows-1251")
    client = Client.from_settings(settings)
    name = "Иван".encode("cp1251")
    contact_id = client.call("crm.contact.add", {"fields": {"NAME": name, "LAST_NAME": "Petrov"}})
    # The portal got UTF-8 text...
    assert portal.portal.crm.entities["contact"].get(int(contact_id))["NAME"] == "Иван"
    # ...and the site gets its own encoding back, in single calls and in batches.
    assert client.call("crm.contact.get", {"ID": contact_id})["NAME"] == name
    batch = client.batch({"c": ("crm.contact.get", {"ID": contact_id})})
    assert batch["c"]["NAME"] == name


def test_logs_dir_writes_masked_crest_call_logs(portal: PortalHandle, tmp_path: Path) -> None:
    settings = Settings.load(None, env={}, web_hook_url=portal.webhook_url, logs_dir=str(tmp_path / "logs"))
    client = Client.from_settings(settings)
    client.call("user.current")
    files = list((tmp_path / "logs").rglob("*_callCurl_*log.json"))
    assert len(files) == 1
    text = files[0].read_text()
    secret = portal.portal.default_webhook["secret"]
    assert secret not in text
    assert "user.current" in text
    assert files[0].stat().st_mode & 0o777 == 0o600


def test_block_log_turns_call_logs_off(portal: PortalHandle, tmp_path: Path) -> None:
    settings = Settings.load(
        None, env={}, web_hook_url=portal.webhook_url, logs_dir=str(tmp_path / "logs"), block_log=True
    )
    Client.from_settings(settings).call("user.current")
    assert not list(tmp_path.rglob("*log.json"))
