"""Live feed: publish a weekly sales report built from ``crm.deal.list``.

    crest portal --http --deals 20 &
    python examples/weekly_report.py --webhook http://127.0.0.1:8024/rest/1/<secret>/

(``crest portal`` prints the webhook URL.) The example reads every deal (``crm.deal.list``
through :meth:`crest.client.Client.list_all`), sums them up by stage (won, lost, the open
pipeline stage by stage, and what changed in the last seven days), posts the report to the live
feed for everyone (``log.blogpost.add`` with ``DEST=UA``), reads the post back
(``log.blogpost.get``) and prints where to see it: the portal's feed page, ``/stream/``.
Run it once a week from cron; ``--dry-run`` prints the report without posting it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from crest.client import Client
from crest.errors import CrestError

SELECT = ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "CURRENCY_ID", "DATE_MODIFY"]
WON, LOST = "WON", "LOSE"


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value or "0"))
    except InvalidOperation:
        return Decimal(0)


def _modified(deal: dict[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(deal.get("DATE_MODIFY") or ""))
    except ValueError:
        return None


def build_report(deals: list[dict[str, Any]], now: dt.datetime) -> tuple[str, str]:
    """The post's title and text (Bitrix24 BBCode) for ``deals`` as of ``now``."""
    week_ago = now - dt.timedelta(days=7)
    by_stage: dict[str, list[Decimal]] = defaultdict(list)
    for deal in deals:
        stage = str(deal.get("STAGE_ID") or "NEW")
        # Deals of other pipelines carry their category: C2:WON is won too.
        by_stage[stage.rsplit(":", 1)[-1]].append(money(deal.get("OPPORTUNITY")))
    currencies = sorted({str(d.get("CURRENCY_ID") or "") for d in deals} - {""})
    unit = f" {currencies[0]}" if len(currencies) == 1 else ""

    def line(label: str, amounts: list[Decimal]) -> str:
        return f"{label}: {len(amounts)} deal{'' if len(amounts) == 1 else 's'}, {sum(amounts, Decimal(0)):,.2f}{unit}"

    open_stages = sorted(s for s in by_stage if s not in (WON, LOST))
    pipeline = [a for s in open_stages for a in by_stage[s]]
    changed = [d for d in deals if (moment := _modified(d)) is not None and moment >= week_ago]
    lines = [
        f"[B]{line('Won', by_stage.get(WON, []))}[/B]",
        line("Lost", by_stage.get(LOST, [])),
        line("Open pipeline", pipeline),
        *(f"    {line(stage, by_stage[stage])}" for stage in open_stages),
        f"Changed in the last 7 days: {len(changed)} of {len(deals)} deals",
    ]
    title = f"Weekly sales report, {week_ago:%d %b} to {now:%d %b %Y}"
    return title, "\n".join(lines)


def feed_url(webhook: str) -> str:
    parts = urlsplit(webhook)
    return f"{parts.scheme}://{parts.netloc}/stream/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--webhook", required=True, help="an incoming webhook URL with the crm and log scopes"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the report, do not post it")
    args = parser.parse_args(argv)
    client = Client.from_webhook(args.webhook)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        deals = list(client.list_all("crm.deal.list", select=SELECT))
        title, text = build_report(deals, now)
        print(f"{title}\n{text}", flush=True)
        if args.dry_run:
            return 0
        post_id = int(
            client.call("log.blogpost.add", {"POST_TITLE": title, "POST_MESSAGE": text, "DEST": ["UA"]})
        )
        [post] = client.call("log.blogpost.get", {"POST_ID": post_id})
    except CrestError as exc:
        print(f"the report was not published: {exc}", file=sys.stderr)
        return 1
    print(
        f"posted to the live feed as #{post_id} ({post['DATE_PUBLISH']}): {feed_url(args.webhook)}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
