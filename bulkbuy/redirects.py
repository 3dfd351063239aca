"""Where the app may send a browser next: only to a path on this site."""

from __future__ import annotations

from urllib.parse import urlsplit


def same_site_path(target: str | None, fallback: str) -> str:
    """`target` when it is a path on this site, else `fallback`.

    Browsers read a backslash as a slash and drop tabs and newlines, so
    "/\\evil.example" or "/\\t/evil.example" would leave the site: any
    backslash or control character is refused, as is "//host" or a scheme.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target
