"""Responses sent gzipped to browsers that take it: pages, stylesheets, scripts, SVG,
CSV and JSON. Many residents use prepaid mobile data, and the drop-in tablet may be on
a hall's slow wifi: the tablet's pledge screen is about 75 kB of HTML and 6 kB gzipped.

Behind a proxy that compresses already (nginx `gzip on`), set COMPRESS_LEVEL=0.
"""

from __future__ import annotations

import gzip

from flask import Flask, current_app, request

#: What is worth compressing (pictures are WebP already; PDFs and the like are not sent).
COMPRESSIBLE = frozenset({
    "text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml",
    "text/csv", "text/plain", "application/json",
})
#: Smaller bodies gain less than the header costs.
MIN_BYTES = 1024
#: A streamed file larger than this (a big CSV download) is sent as it is, not read whole.
MAX_BYTES = 5_000_000


def init_app(app: Flask) -> None:
    """Compress responses (registered first, so it runs after every other after_request)."""
    app.after_request(compress)


def compress(response):
    """`response` gzipped when the browser takes gzip and it is worth it; else as it is.

    The bytes change, not what they say: `Vary: Accept-Encoding` tells caches so."""
    level = int(current_app.config.get("COMPRESS_LEVEL", 5))
    if (level <= 0 or request.method == "HEAD" or response.status_code != 200
            or "no-transform" in (response.headers.get("Cache-Control") or "")
            or response.mimetype not in COMPRESSIBLE
            or "Content-Encoding" in response.headers):
        return response
    response.vary.add("Accept-Encoding")
    if request.accept_encodings["gzip"] <= 0:
        return response
    length = response.content_length
    if response.is_streamed and not response.direct_passthrough:
        return response  # made as it goes (a CSV written row by row): leave it be
    if length is not None and not MIN_BYTES <= length <= MAX_BYTES:
        return response
    response.direct_passthrough = False  # a static file: read it (small: under MAX_BYTES)
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=level, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    response.headers.pop("Accept-Ranges", None)  # ranges of the gzipped bytes: not offered
    if response.headers.get("ETag"):
        # A strong ETag names these exact bytes: the gzipped ones are other bytes.
        etag, weak = response.get_etag()
        response.set_etag(etag + "-gzip", weak=weak)
    return response
