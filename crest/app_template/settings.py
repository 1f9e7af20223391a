# Settings of __NAME__ (b24-crest reads this file, then CREST_* environment variables, which win).
# `crest dev` overrides what concerns the local portal; in production set the secrets in the
# environment (systemd's EnvironmentFile, see `crest deploy`), not here.

# The local application's credentials from Bitrix24's Developer resources.
C_REST_CLIENT_ID = ""
C_REST_CLIENT_SECRET = ""

# The public https:// address the portal opens (event and placement handlers are bound to it).
CREST_APP_BASE_URL = ""

# Signs the pages' tokens; the same long random value in every process of the app.
CREST_SECRET_KEY = ""

# Tokens of the installation, and the event inbox next to them. Keep it out of any web root.
CREST_STORE = "sqlite:var/crest.sqlite"
