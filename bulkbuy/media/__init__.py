"""Product pictures as files: GET /pictures/<name>, and the larger request size the
pages that take pictures allow.

Pictures are photos of products, not secrets: no sign-in is needed to see one, and a
tablet in tablet mode may fetch them (bulkbuy.web._TABLET_ENDPOINTS). A name is the
start of the file's SHA-256 (bulkbuy.services.pictures), so a URL always means the same
bytes, and browsers may keep it for a year without asking again.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request, send_from_directory
from flask_login import current_user

from bulkbuy.services import pictures, residents

bp = Blueprint("media", __name__)

#: A year: a picture's URL changes with its content (its name is its hash).
PICTURE_MAX_AGE = 365 * 24 * 3600

#: Organiser pages whose form may carry pictures: (endpoint, the setting for their size).
_UPLOAD_ENDPOINTS = {
    "organiser.product": "PICTURE_MAX_BYTES",
    "organiser.import_products": "PICTURE_IMPORT_MAX_BYTES",
}
#: What those settings are when not set (config.py may set them).


@bp.route("/pictures/<name>")
def picture(name: str):
    """A stored product picture. Any name that is not a hash and .webp is a 404 (never a
    path outside instance/pictures)."""
    if not pictures.is_picture_name(name):
        abort(404)
    response = send_from_directory(
        pictures.directory(current_app.instance_path), name, mimetype="image/webp",
        max_age=PICTURE_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={PICTURE_MAX_AGE}, immutable"
    return response


def allow_picture_uploads() -> None:
    """Run before CSRFProtect reads the form (bulkbuy.web puts it first): a signed-in
    person posting to a page that takes pictures may send up to that page's picture
    limit plus MAX_CONTENT_LENGTH (a phone's photo is often larger than the 2 MB other
    forms are held to); everyone else keeps MAX_CONTENT_LENGTH, so a stranger cannot
    make us read a large body."""
    setting = _UPLOAD_ENDPOINTS.get(request.endpoint or "")
    if setting is None or request.method != "POST" or not current_user.is_authenticated:
        return
    if not residents.organises_a_group(current_user):
        return  # only organisers add pictures: anyone else keeps MAX_CONTENT_LENGTH
    base = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    request.max_content_length = base + pictures.picture_limit(current_app.config, setting)
