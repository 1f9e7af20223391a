"""b24-crest settings: CRest's settings.php, in Python.

Copy this file to settings.py (next to where you start the app or the `crest` command) and
fill in what you use. b24-crest reads the UPPER_CASE C_REST_* and CREST_* names below.
Every name can also be set as an environment variable (CREST_CLIENT_SECRET, or CRest's
C_REST_CLIENT_SECRET); the environment wins over this file, and arguments given in code win
over both. Keep settings.py out of version control and out of any folder the web server
serves: it holds secrets.

Use ONE way to reach Bitrix24: an incoming webhook (C_REST_WEB_HOOK_URL) for scripts on
one portal, or a local application (C_REST_CLIENT_ID + C_REST_CLIENT_SECRET) for an app that
portals install. If both are set, the webhook is used.
"""

# --- CRest's constants -----------------------------------------------------------------------

# An incoming webhook, from the portal's Developer resources > Other > Inbound webhook.
# The URL itself is the password: anyone who has it can call REST as that user.
# Example (fake secret): "https://example.bitrix24.com/rest/1/abcd1234efgh5678/"
# A missing final "/" is added for you.
C_REST_WEB_HOOK_URL = ""

# A local application's credentials, shown on the portal when the app is created
# ("Application ID" / client_id and "Application key" / client_secret). The secret never
# goes into the installation store or the logs; better still, set it as an environment
# variable (CREST_CLIENT_SECRET) and leave it empty here.
C_REST_CLIENT_ID = ""
C_REST_CLIENT_SECRET = ""

# The character set your own site works in, when it is not UTF-8 (e.g. "windows-1251").
# Bitrix24 always speaks UTF-8; crest.encoding converts site-encoded bytes on the way out and
# back. Leave empty for UTF-8 / plain Python strings.
C_REST_CURRENT_ENCODING = ""

# True: write no log files at all, whatever C_REST_LOGS_DIR says.
C_REST_BLOCK_LOG = False

# Where log files go: {dir}/{Y-m-d}/{H}/{time}_{type}_{random}log.json, tokens masked,
# folders 0700, files 0600. Empty: no log files. Unlike CRest there is no default folder
# next to the code, because that folder tends to be inside the web root. If you set one,
# pick a folder the web server does not serve, e.g. "var/logs".
C_REST_LOGS_DIR = ""

# True: log files are Python reprs (.txt) instead of JSON; easier to read by eye.
C_REST_LOG_TYPE_DUMP = False

# CRest uses this to switch off TLS certificate checks. b24-crest refuses to start when it is
# True: without the checks anyone between you and the portal can read and change requests,
# tokens included. For a portal with its own or a self-signed certificate authority, set
# CREST_CA_BUNDLE to that CA's certificate file instead.
C_REST_IGNORE_SSL = False

# --- b24-crest's own settings ----------------------------------------------------------------

# A PEM file (or a c_rehash'ed folder) of CA certificates to trust for the portal and the
# OAuth server, for on-premise portals with a private CA. Empty: the system's trust store.
CREST_CA_BUNDLE = ""

# Where installations (portal tokens) are kept for a local application.
#   "sqlite:var/crest.sqlite"  the default; a path relative to the working directory
#   "json:var/settings.json"   CRest's settings.json format, readable by PHP CRest too
#   "memory:"                  nothing kept; for tests
#   "postgresql://user:pw@db/crest"  shared by many app hosts and workers (the postgres extra)
# Keep it outside any folder the web server serves.
CREST_STORE = "sqlite:var/crest.sqlite"

# Bitrix24's OAuth server: where tokens are requested and renewed, and where app.info checks
# that tokens posted to the install handler are genuine. Change only for the local portal.
CREST_OAUTH_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"  # noqa: S105 - a URL, not a password
CREST_OAUTH_SERVER_ENDPOINT = "https://oauth.bitrix.info/rest/"

# Seconds to wait for a connection, then for the answer. Some methods legitimately run for
# close to a minute on the portal, hence the long read timeout.
CREST_CONNECT_TIMEOUT = 5.0
CREST_READ_TIMEOUT = 65.0

# The web application (webapp/) only -------------------------------------------------------

# Signs the short-lived tokens the app page hands to its own scripts. Use a long random
# value (python -c "import secrets; print(secrets.token_urlsafe(32))"), keep it secret, and
# keep it stable across restarts and processes.
CREST_SECRET_KEY = ""

# Opens the operator pages (event inbox, installations). Empty: those pages do not exist.
CREST_OPERATOR_KEY = ""

# The public https:// address of the app, as the portal reaches it (e.g. "https://app.example.com").
# Event handler and placement URLs are built from it, and only from it: never from a request's
# Host header, which anyone can set. Empty: the app binds no events or placements and says so.
CREST_APP_BASE_URL = ""

# Where the app's pages load Bitrix24's BX24.js from.
CREST_BX24_JS_URL = "//api.bitrix24.com/api/v1/"

# Extra origins allowed to show the app in their iframe, beyond the installed portals'
# own domains; for on-premise portals reached under another name. Example: ("https://b24.corp",)
CREST_FRAME_ANCESTORS = ()

# Tokens of the portal's outgoing webhooks whose events the app accepts (they are secrets),
# each bound to the portal that issued it: "MEMBER_ID=TOKEN" or "DOMAIN=TOKEN".
# Example: ("mycompany.bitrix24.com=abcdef0123456789",)
CREST_OUTGOING_WEBHOOK_TOKENS = ()

# "thread": the web process also runs the event handlers; "off": run `crest worker` separately.
CREST_EVENTS_WORKER = "thread"

# Events bound at install besides those your handlers need. Empty: CRM add/update/delete of
# contacts, companies, deals and leads.
CREST_EVENTS = ()

# The event inbox database (a SQLite path or a postgresql:// URL). Empty: next to the store,
# or in the store's own database when the store is PostgreSQL.
CREST_INBOX = ""

# Seconds `crest worker` holds an event without renewing it (it renews while the handler runs):
# how soon another worker takes over the events of a worker that died.
CREST_WORKER_LEASE = 30.0

# Accept http:// portal addresses in install deliveries. Only for the local test portal;
# real portals are always https.
CREST_ALLOW_HTTP_PORTALS = False

# The local portal (crest portal) only ------------------------------------------------------

# Its time scale: 1.0 runs Bitrix24's limits in real time, 10.0 ten times faster (tests).
CREST_SPEED = 1.0

# The plan whose request-rate limits it imitates: "standard" or "enterprise".
CREST_PLAN = "standard"
