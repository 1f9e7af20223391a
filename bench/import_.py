"""Import benchmark: 10,000 new contacts, three libraries, one portal.

``python -m bench.import_ --contender NAME --webhook URL --speed S --n N --tag T`` runs one
contender and prints one JSON line (bench.run drives this).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any
from urllib.parse import urlsplit


def items(n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "fields": {
                "NAME": f"{tag}-{i}",
                "LAST_NAME": "Bench",
                "PHONE": [{"VALUE": f"+1555{i:06d}", "VALUE_TYPE": "WORK"}],
            }
        }
        for i in range(n)
    ]


def ours(url: str, speed: float, n: int, tag: str) -> dict[str, Any]:
    import os

    from crest.client import Client
    from crest.limits import Limiter

    limiter = Limiter.for_plan("standard", speed=speed)
    client = Client.from_webhook(url, limiter=limiter, ca_bundle=os.environ.get("CREST_CA_BUNDLE"))
    work = items(n, tag)
    started = time.monotonic()
    results = client.call_many("crm.contact.add", work, parallel=8)
    wall = time.monotonic() - started
    return {
        "wall": wall,
        "created": sum(1 for r in results if isinstance(r, int)),
        "failed": len(results.errors),
    }


def b24pysdk(url: str, speed: float, n: int, tag: str) -> dict[str, Any]:
    from b24pysdk import BitrixWebhook

    parts = urlsplit(url)
    token = BitrixWebhook(domain=parts.netloc, webhook_token=parts.path.split("/rest/", 1)[1])
    work = [("crm.contact.add", item) for item in items(n, tag)]
    started = time.monotonic()
    answer = token.call_batches(work)
    wall = time.monotonic() - started
    result = answer["result"]["result"]
    values = result.values() if isinstance(result, dict) else result
    errors = answer["result"]["result_error"]
    return {"wall": wall, "created": sum(1 for v in values if isinstance(v, int)), "failed": len(errors)}


def fast_bitrix24(url: str, speed: float, n: int, tag: str) -> dict[str, Any]:
    import logging

    from fast_bitrix24 import Bitrix

    logging.getLogger("fast_bitrix24").setLevel(logging.ERROR)
    b = Bitrix(
        url,
        verbose=False,
        request_pool_size=50,
        requests_per_second=2.0 * speed,
        operating_time_limit=max(1, int(480 / speed)),
    )
    work = items(n, tag)
    started = time.monotonic()
    results = b.call("crm.contact.add", work)
    wall = time.monotonic() - started
    values = list(results) if isinstance(results, list | tuple) else [results]
    return {"wall": wall, "created": sum(1 for v in values if isinstance(v, int | str) and str(v).isdigit())}


CONTENDERS = {
    "b24-crest call_many": ours,
    "b24pysdk call_batches": b24pysdk,
    "fast-bitrix24 call": fast_bitrix24,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contender", required=True, choices=sorted(CONTENDERS))
    parser.add_argument("--webhook", required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    out = CONTENDERS[args.contender](args.webhook, args.speed, args.n, args.tag)
    out["ok"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    main()
