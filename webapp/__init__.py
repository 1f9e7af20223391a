"""The Flask application a Bitrix24 portal installs and opens in its iframe."""
