"""Helpers for the closing tests: pledging through the real service, and checking that
a closed round's statements add up."""
