"""What the production layout's reverse proxy and monitoring ask: /healthz."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from bulkbuy import sweeps
from bulkbuy.models import utcnow
from bulkbuy.services import health

bp = Blueprint("ops", __name__)


def _iso(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@bp.route("/healthz")
def healthz():
    """JSON: the database reachable, and each scheduled sweep's last good run. 200 while
    the database answers ("status" is "degraded" when a sweep is late or failed), 503
    when it does not. Says nothing about any household or group."""
    intervals = {sweep.__name__: seconds
                 for sweep, seconds in sweeps.periodic_jobs(current_app.config)}
    found = health.report(utcnow(), intervals)
    body = {
        "status": found.status,
        "database": "ok" if found.database_ok else "unreachable",
        "sweeps": {s.name: {"every_seconds": s.every_seconds,
                            "last_ok_at": _iso(s.last_ok_at),
                            "last_failed": s.last_failed, "late": s.late}
                   for s in found.sweeps},
    }
    return jsonify(body), 200 if found.database_ok else 503
