"""Export benchmark: every contact of a 100,000-contact portal, three libraries, one portal.

``python -m bench.export --contender NAME --webhook URL --speed S`` runs one contender and
prints one JSON line (bench.run drives this; each contender gets its own process).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any
from urllib.parse import urlsplit

SELECT = ["ID", "NAME", "LAST_NAME"]


def ours(url: str, speed: float, parallel: int) -> dict[str, Any]:
    import os

    from crest.client import Client
    from crest.limits import Limiter

    client = Client.from_webhook(
        url, limiter=Limiter.for_plan("standard", speed=speed), ca_bundle=os.environ.get("CREST_CA_BUNDLE")
    )
    stats: dict[str, Any] = {}
    started = time.monotonic()
    rows = list(client.list_all("crm.contact.list", select=SELECT, parallel=parallel, stats=stats))
    wall = time.monotonic() - started
    return {"wall": wall, "ids": [int(r["ID"]) for r in rows], "stats": stats}


def b24pysdk(url: str, speed: float, parallel: int) -> dict[str, Any]:
    from b24pysdk import BitrixWebhook

    parts = urlsplit(url)
    token_path = parts.path.split("/rest/", 1)[1]
    # b24pysdk builds https://{domain}/rest itself; it has no throttle knob to set.
    token = BitrixWebhook(domain=parts.netloc, webhook_token=token_path)
    started = time.monotonic()
    answer = token.call_list_fast("crm.contact.list", params={"select": SELECT})
    rows = list(answer["result"])
    wall = time.monotonic() - started
    return {"wall": wall, "ids": [int(r["ID"]) for r in rows]}


def fast_bitrix24(url: str, speed: float, parallel: int) -> dict[str, Any]:
    import logging

    from fast_bitrix24 import Bitrix

    logging.getLogger("fast_bitrix24").setLevel(logging.ERROR)
    # Its own throttle, scaled to the portal's speed like ours: the leaky bucket drains 2*speed
    # requests a second; the operating-time budget is 480 s / speed (its 10-minute window is a
    # module constant and stays 600 s, which only makes it more careful).
    b = Bitrix(
        url,
        verbose=False,
        request_pool_size=50,
        requests_per_second=2.0 * speed,
        operating_time_limit=max(1, int(480 / speed)),
    )
    started = time.monotonic()
    rows = b.get_all("crm.contact.list", {"select": SELECT})
    wall = time.monotonic() - started
    return {"wall": wall, "ids": [int(r["ID"]) for r in rows]}


CONTENDERS = {
    "b24-crest list_all": ours,
    "b24pysdk call_list_fast": b24pysdk,
    "fast-bitrix24 get_all": fast_bitrix24,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contender", required=True, choices=sorted(CONTENDERS))
    parser.add_argument("--webhook", required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    out = CONTENDERS[args.contender](args.webhook, args.speed, args.parallel)
    ids = out.pop("ids")
    out.update(ok=True, rows=len(ids), unique=len(set(ids)), ordered=ids == sorted(ids))
    out["min_id"], out["max_id"] = (min(ids), max(ids)) if ids else (None, None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
