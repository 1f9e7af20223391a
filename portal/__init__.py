"""A local Bitrix24 portal and OAuth server for development and tests."""
