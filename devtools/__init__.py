"""Tools for development and tests that are not part of the app (never imported by it)."""
