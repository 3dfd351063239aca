"""The production layout of docs/operations.md, started for real on loopback: gunicorn
with two sync workers on PostgreSQL, the rate limits kept in Redis (so every worker
counts the same tries). It once failed to start ("'redis' prerequisite not available"):
this keeps it starting. And /healthz, which that layout's monitoring asks."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import requests

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import SweepRun, utcnow
from devtools.localstripe_server import free_port
from tests import factories
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_REDIS_URL must be set in CI (make test sets it)")
        pytest.skip("Redis not available: set TEST_REDIS_URL (make test does)")
    return url


@pytest.fixture
def gunicorn(postgresql_url, redis_url, tmp_path):
    """gunicorn, two sync workers, on a migrated PostgreSQL with one account, its
    rate limits in Redis under a prefix of this test's own. Yields (base URL, prefix)."""
    app = make_app(postgresql_url)
    with app.app_context():
        factories.user("org@oak.test", "Olive Organiser")
        db.session.commit()
        db.engine.dispose()
    port, prefix = free_port(), f"bulkbuy-test-{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "DATABASE_URL": postgresql_url, "RATELIMIT_STORAGE_URI": redis_url,
           "RATELIMIT_KEY_PREFIX": prefix, "SECRET_KEY": "layout-test-key",
           "SESSION_COOKIE_SECURE": "false", "LOGIN_RATE_LIMIT": "3 per minute",
           "LOG_LEVEL": "WARNING"}
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", "2",
         "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code in (200, 503):
                    break
            except requests.RequestException:  # not listening, or workers still booting
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("gunicorn did not start:\n"
                                     + (tmp_path / "gunicorn.log").read_text())
            time.sleep(0.2)
        yield base, prefix
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
        keys = redis.Redis.from_url(redis_url)
        for key in keys.scan_iter(f"*{prefix}*"):
            keys.delete(key)
        keys.close()


def _wrong_sign_in(http: requests.Session, base: str) -> int:
    page = http.get(f"{base}/login", timeout=5)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    return http.post(f"{base}/login", timeout=5, allow_redirects=False, data={
        "csrf_token": token, "email": "org@oak.test", "password": "not-the-password"},
    ).status_code


@pytest.mark.postgres_only
def test_gunicorn_with_two_workers_starts_and_keeps_the_sign_in_limit_in_redis(
        gunicorn, redis_url):
    base, prefix = gunicorn
    health = requests.get(f"{base}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json()["database"] == "ok"

    with requests.Session() as http:
        answers = [_wrong_sign_in(http, base) for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    store = redis.Redis.from_url(redis_url)
    try:
        assert any(store.scan_iter(f"*{prefix}*")), "no rate-limit key in Redis"
    finally:
        store.close()


def test_healthz_reports_the_database_and_each_sweeps_last_good_run(app, client):
    now = utcnow()
    names = [sweep.__name__ for sweep, _seconds in sweeps.periodic_jobs(app.config)]
    db.session.add(SweepRun(name="sweep_rounds", finished_at=now, ok=True, last_ok_at=now))
    db.session.commit()

    answer = client.get("/healthz")

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["database"] == "ok"
    assert sorted(body["sweeps"]) == sorted(names)
    assert body["sweeps"]["sweep_rounds"]["late"] is False
    assert body["sweeps"]["sweep_payments"]["late"] is True  # never ran
    assert body["status"] == "degraded"
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_scheduled_sweep_records_its_run_and_a_failing_one_says_so(app, monkeypatch):
    jobs = dict((sweep.__name__, sweep) for sweep, _s in sweeps.scheduled_jobs(app.config))
    jobs["sweep_notifications"](utcnow())

    def broken(now):
        raise RuntimeError("the sweep broke")

    monkeypatch.setattr(sweeps, "periodic_jobs", lambda config: [(broken, 20)])
    [(failing, _seconds)] = sweeps.scheduled_jobs(app.config)
    with pytest.raises(RuntimeError):
        failing(utcnow())

    runs = {run.name: run for run in db.session.query(SweepRun)}
    assert runs["sweep_notifications"].ok is True
    assert runs["sweep_notifications"].last_ok_at is not None
    assert (runs["broken"].ok, runs["broken"].last_ok_at) == (False, None)


def test_a_sweep_late_by_more_than_three_of_its_intervals_is_reported_late(app, client):
    long_ago = utcnow() - timedelta(days=2)
    for sweep, _seconds in sweeps.periodic_jobs(app.config):
        db.session.add(SweepRun(name=sweep.__name__, finished_at=long_ago, ok=True,
                                last_ok_at=long_ago))
    db.session.commit()

    body = client.get("/healthz").get_json()

    assert all(s["late"] for s in body["sweeps"].values())
    assert body["status"] == "degraded"


def test_static_files_are_fingerprinted_and_kept_for_a_year(client):
    page = client.get("/login").get_data(as_text=True)
    link = re.search(r'href="(/static/css/app\.css\?v=([0-9a-f]{12}))"', page)
    assert link, "the stylesheet's URL carries no fingerprint"
    content = (ROOT / "bulkbuy" / "static" / "css" / "app.css").read_bytes()
    assert link.group(2) == hashlib.sha256(content).hexdigest()[:12]

    current = client.get(link.group(1))
    stale = client.get("/static/css/app.css?v=000000000000")
    bare = client.get("/static/css/app.css")

    assert current.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for answer in (stale, bare):  # an old or missing fingerprint is checked each time
        assert answer.status_code == 200
        assert "immutable" not in answer.headers.get("Cache-Control", "")
    for answer in (current, stale, bare):
        answer.close()
