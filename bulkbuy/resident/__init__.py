"""What residents use: the group's rounds, pledging, their own orders."""

from flask import Blueprint

bp = Blueprint("resident", __name__)

from bulkbuy.resident import data, routes  # noqa: E402,F401
