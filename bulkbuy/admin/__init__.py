"""Site administration: creating groups and naming their first organiser."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

from bulkbuy.admin import routes  # noqa: E402,F401
