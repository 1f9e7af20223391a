// b24jssdk's B24OAuth, unchanged, with tokens the portal issued (argv[2], its token JSON) and
// the app's credentials (argv[3], argv[4]); prints one JSON report.
//
// Its client_endpoint ends in "/", so the SDK calls /rest//user.current, which Bitrix24's
// nginx (and the portal) answer as /rest/user.current.
import { B24OAuth, LoggerFactory } from "@bitrix24/b24jssdk";

const token = JSON.parse(process.argv[2]);
const b24 = new B24OAuth(
  {
    applicationToken: token.application_token || "",
    userId: Number(token.user_id),
    memberId: token.member_id,
    accessToken: token.access_token,
    refreshToken: token.refresh_token,
    expires: Number(token.expires),
    expiresIn: Number(token.expires_in),
    scope: token.scope,
    domain: token.domain,
    clientEndpoint: token.client_endpoint,
    serverEndpoint: token.server_endpoint,
    status: token.status,
  },
  { clientId: process.argv[3], clientSecret: process.argv[4] },
);
b24.setLogger(LoggerFactory.createNullLogger());

const me = await b24.actions.v2.call.make({ method: "user.current", params: {} });
const contact = await b24.actions.v2.call.make({ method: "crm.contact.get", params: { id: 3 } });
process.stdout.write(
  JSON.stringify({ user: me.getData().result, contact: contact.getData().result, origin: b24.getTargetOrigin() }),
);
