"""`make run`'s server: pages served and rounds closed by the scheduler inside it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from bulkbuy.extensions import db
from bulkbuy.models import Round, utcnow
from tests import factories
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_development_server_serves_pages_and_closes_due_rounds(tmp_path):
    url = f"sqlite:///{tmp_path / 'dev.sqlite'}"
    app = make_app(url)
    with app.app_context():
        w = factories.world()
        db.session.execute(
            update(Round).where(Round.id == w.round.id)
            .values(closes_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
        round_id = w.round.id
        db.session.remove()
        db.engine.dispose()

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "dev-server-test",
           "BULKBUY_ENV": "development", "SWEEP_SECONDS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "bulkbuy", "dev-server", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    status = r.status
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200

        with app.app_context():
            closed = None
            while time.monotonic() < deadline and closed != "closed":
                closed = db.session.get(Round, round_id, populate_existing=True).status
                db.session.rollback()
                time.sleep(0.3)
            db.session.remove()
            db.engine.dispose()
        assert closed == "closed"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
