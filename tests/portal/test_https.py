"""HTTPS with a locally generated CA: verified with the CA bundle, refused without it."""

from __future__ import annotations

import ssl

import pytest
import requests

from portal.testing import PortalHandle


@pytest.mark.b24portal(https=True)
def test_https_with_the_ca_bundle(portal: PortalHandle) -> None:
    assert portal.base_url.startswith("https://127.0.0.1:")
    assert portal.ca_bundle is not None
    resp = requests.get(portal.webhook_url + "user.current", verify=portal.ca_bundle, timeout=10)
    assert resp.status_code == 200 and resp.json()["result"]["ID"] == "1"
    tokens = portal.issue_tokens()
    assert tokens["client_endpoint"].startswith("https://")
    with requests.Session() as session:  # keep-alive over TLS too
        for _ in range(3):
            resp = session.get(portal.webhook_url + "server.time", verify=portal.ca_bundle, timeout=10)
            assert resp.status_code == 200


@pytest.mark.b24portal(https=True)
def test_https_without_the_ca_bundle_fails_verification(portal: PortalHandle) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(portal.webhook_url + "user.current", timeout=10)
    # the CA bundle is a real CA certificate that verifies the server for 127.0.0.1
    ctx = ssl.create_default_context(cafile=portal.ca_bundle)
    assert ctx.cert_store_stats()["x509_ca"] == 1
