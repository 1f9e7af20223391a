// b24jssdk's B24Hook, unchanged, against a webhook URL (argv[2]); prints one JSON report.
//
// argv[3] is the portal's speed factor: the SDK's own limiter gets the standard plan's numbers
// scaled the same way (as a client of a real portal keeps its defaults), so it stays under the
// portal's leaky bucket without making the test wait real seconds.
// Run by tests/interop/test_b24jssdk_hook.py with NODE_EXTRA_CA_CERTS set to the portal's CA.
// The report carries what each call returned (ids, not judgements): the test decides.
import { B24Hook, LoggerFactory, ParamsFactory } from "@bitrix24/b24jssdk";

const url = process.argv[2];
const speed = Number(process.argv[3] || 1);
const standard = ParamsFactory.getDefault();
const restrictionParams = {
  ...standard,
  // A few requests of margin in the burst: the SDK's and the portal's buckets start at
  // slightly different moments, and at 50x speed a millisecond is a request.
  rateLimit: { ...standard.rateLimit, burstLimit: standard.rateLimit.burstLimit - 5, drainRate: standard.rateLimit.drainRate * speed },
  operatingLimit: {
    ...standard.operatingLimit,
    windowMs: standard.operatingLimit.windowMs / speed,
    limitMs: standard.operatingLimit.limitMs / speed,
  },
};
const b24 = B24Hook.fromWebhookUrl(url, { restrictionParams });
// Deprecation warnings of the old helpers would go to stdout and spoil the report.
b24.setLogger(LoggerFactory.createNullLogger());

const ids = (rows) => rows.map((row) => String(row.ID));
const report = {};

// callMethod (the old entry) and actions.v2.call (the new one).
const me = await b24.callMethod("user.current");
report.user = me.getData().result;
const call = await b24.actions.v2.call.make({ method: "crm.contact.get", params: { id: 7 } });
report.contact7 = call.getData().result;
try {
  await b24.actions.v2.call.make({ method: "no.such.method", params: {} });
  report.failed = null;
} catch (error) {
  report.failed = { code: error.code, status: error.status };
}

// Batches: a small one with a $result reference, and one past 50 commands, chunked.
const batch = await b24.callBatch(
  {
    me: { method: "user.current" },
    list: { method: "crm.contact.list", params: { select: ["ID"], order: { ID: "ASC" } } },
    same: { method: "crm.contact.get", params: { id: "$result[list][0][ID]" } },
  },
  true,
);
const data = batch.getData();
report.batch = { me: data.me.ID, list: ids(data.list), same: data.same.ID };
const calls = Array.from({ length: 120 }, (_, i) => ["crm.contact.get", { id: i + 1 }]);
const chunked = await b24.callBatchByChunk(calls, true);
report.batchByChunk = ids(chunked.getData());

// Every list helper, each over every contact.
const select = ["ID", "NAME"];
report.lists = {};
report.lists.callListMethod = ids((await b24.callListMethod("crm.contact.list", { select })).getData());
const fetched = [];
for await (const chunk of b24.fetchListMethod("crm.contact.list", { select }, "ID")) {
  fetched.push(...ids(chunk));
}
report.lists.fetchListMethod = fetched;
const v2list = await b24.actions.v2.callList.make({ method: "crm.contact.list", params: { select } });
report.lists.v2CallList = ids(v2list.getData());
const v2fetched = [];
for await (const chunk of b24.actions.v2.fetchList.make({ method: "crm.contact.list", params: { select } })) {
  v2fetched.push(...ids(chunk));
}
report.lists.v2FetchList = v2fetched;
// Paging by hand: start=N through getNext, as the SDK's AjaxResult offers it.
const paged = [];
let page = await b24.actions.v2.call.make({ method: "crm.contact.list", params: { select, start: 0 } });
report.total = page.getTotal();
while (page) {
  paged.push(...ids(page.getData().result));
  page = page.isMore() ? await page.getNext(b24.getHttpClient("v2")) : false;
}
report.lists.getNext = paged;

process.stdout.write(JSON.stringify(report));
