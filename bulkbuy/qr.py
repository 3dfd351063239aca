"""QR codes drawn on the server as inline SVG (segno): a link to scan from a screen, or
from a printout, with no JavaScript and nothing fetched."""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(data: str, *, title: str, scale: int = 5) -> Markup:
    """The QR code of `data` as an <svg> element, dark on white, named `title` for screen
    readers (segno escapes it). Safe to put in a page as is: the SVG holds only segno's
    own shapes and the escaped title, never `data` as text."""
    svg = segno.make(data, error="m").svg_inline(
        scale=scale, dark="#0b0c0c", light="#ffffff", title=str(title))
    return Markup(svg)  # noqa: S704 - see the docstring
