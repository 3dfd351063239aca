"""Benchmark: requests per second for a signed-in resident's round page, against hello-world.

    python bench/round_page.py                      # SQLite file in a temporary directory
    python bench/round_page.py --postgres URL       # or BENCH_DATABASE_URL=URL
    python bench/round_page.py --duration 5

Builds a fresh database with the migrated schema: one group, one open round of
50 products and 2,000 households each pledging for 3 of them (6,000 pledge
lines, bulk inserted). Serves the app with gunicorn (2 sync workers, bound to
127.0.0.1 on a free port), signs in a resident through the real sign-in form
(CSRF on), then loads /rounds/<id> with wrk (or, without wrk, a Python load
loop) for a fixed time. Does the same against bench/hello_app.py under the same
gunicorn settings. Every round page response must be a 200 carrying the whole
page; anything else is counted and printed, and the run exits 1.

The last line printed is always `round_page_rps=... hello_rps=... ratio=...`.

PostgreSQL: the database's public schema is DROPPED and rebuilt. That happens
only when the database is empty, its name contains "bench", or --wipe is given.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import http.client
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"  # all traffic stays on this machine
USER_AGENT = "bulkbuy-bench/1"  # sign-in uses "strong" session protection: keep it constant
RESIDENT_EMAIL = "bench-resident@example.org"
PASSWORD = "password123"  # noqa: S105 - a throwaway benchmark database
PRODUCTS = 50
HOUSEHOLDS = 2_000
LINES_PER_HOUSEHOLD = 3
TARGET_RATIO = 0.20
WARM_UP_SECONDS = 2

_servers: list[subprocess.Popen] = []
_failures: list[str] = []


def say(message: str) -> None:
    print(message, flush=True)


# --- the database -------------------------------------------------------------------------


def prepare_postgres(url: str, wipe: bool) -> None:
    """Drop and recreate the public schema, if this database may be wiped."""
    from sqlalchemy import create_engine, inspect, make_url, text

    from config import database_url

    engine = create_engine(database_url(url))
    try:
        with engine.begin() as conn:
            tables = inspect(conn).get_table_names()
            name = make_url(database_url(url)).database or ""
            if tables and not wipe and "bench" not in name:
                raise SystemExit(
                    f"refusing to wipe database {name!r}: it has tables. Use a database "
                    "whose name contains 'bench', an empty one, or pass --wipe."
                )
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def build_database(url: str) -> tuple[int, int]:
    """Migrate and fill the database; return (round id, id of the item shown last)."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select

    from bulkbuy import create_app
    from bulkbuy.extensions import db
    from bulkbuy.models import Household, PledgeLine, utcnow
    from bulkbuy.services import accounts, catalogue, pledges, rounds
    from config import Config, database_url

    app = create_app(
        Config, {"SQLALCHEMY_DATABASE_URI": database_url(url), "SECRET_KEY": "bench-build"}
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        now = utcnow()
        organiser = accounts.create_user("bench-organiser@example.org", "Organiser", PASSWORD)
        group = accounts.create_group("Bench Estate", "Europe/London", organiser, actor=None)
        resident = accounts.create_user(RESIDENT_EMAIL, "Resident", PASSWORD)
        home = accounts.join_group(group, resident, "Flat 0").household
        supplier = catalogue.create_supplier(group.id, "Wholesaler", None, actor=organiser)
        products = [
            catalogue.save_product(
                supplier,
                catalogue.ProductFields(
                    f"Product {n:02d}", "1kg bag", 6 + n % 20, 500 + 37 * n, None, f"P{n:02d}"
                ),
                actor=organiser,
            )
            for n in range(PRODUCTS)
        ]
        rnd = rounds.create_round(
            group, supplier, products,
            rounds.RoundDetails(title="Bench round", closes_at=now + timedelta(days=7),
                                delivery_fee_pence=1500, min_order_pence=10_000,
                                collection_place="Community centre"),
            created_by=organiser, now=now,
        )
        rounds.open_round(rnd, actor=organiser, now=now)
        db.session.flush()
        items = sorted(rnd.items, key=lambda i: i.id)
        for k in range(LINES_PER_HOUSEHOLD):  # the resident's own pledges, through the service
            pledges.set_pledge(items[k * 17], home, 2 + k, 1, entered_by=resident, now=now,
                               max_units=999)
        db.session.flush()

        homes = db.session.scalars(
            insert(Household).returning(Household.id, sort_by_parameter_order=True),
            [{"group_id": group.id, "label": f"Flat {n}", "is_assisted": True}
             for n in range(1, HOUSEHOLDS)],
        ).all()
        start = (db.session.scalar(select(func.max(PledgeLine.queue_pos))) or 0) + 1
        rows = [
            {
                "round_id": rnd.id,
                "round_item_id": items[(n * 7 + k * 17) % PRODUCTS].id,
                "household_id": home_id,
                "queue_pos": start + n * LINES_PER_HOUSEHOLD + k,
                "quantity": 1 + (n + k) % 4,
                "tolerance": (n + k) % 3,
                "created_at": now,
                "entered_by_id": organiser.id,
            }
            for n, home_id in enumerate(homes)
            for k in range(LINES_PER_HOUSEHOLD)
        ]
        db.session.execute(insert(PledgeLine), rows)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(select(func.setval("pledge_queue_seq", start + len(rows))))
        db.session.commit()
        lines = db.session.scalar(select(func.count()).select_from(PledgeLine))
        last_item = max(items, key=lambda i: i.name)  # the page lists items by name
        result = (rnd.id, last_item.id)
        say(f"database: {len(homes) + 1} households, {lines} pledge lines, "
            f"{len(items)} products, round {rnd.id}")
        db.session.remove()
        db.engine.dispose()
    return result


# --- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_gunicorn(app_spec: str, env: dict, log: Path, *, pythonpath: Path) -> int:
    """Start gunicorn (2 sync workers) in its own process group; return its port."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--no-control-socket",
        "-w", "2", "-k", "sync", "-b", f"{HOST}:{port}",
        "--pythonpath", str(pythonpath), "--error-logfile", str(log), "--log-level", "warning",
        app_spec,
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _servers.append(server)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn for {app_spec} exited:\n{tail(log)}")
        try:
            with contextlib.closing(http.client.HTTPConnection(HOST, port, timeout=2)) as conn:
                conn.request("GET", "/", headers={"User-Agent": USER_AGENT})
                conn.getresponse().read()
            return port
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn for {app_spec} did not answer in 30 s:\n{tail(log)}")


def stop_servers() -> None:
    """Stop every gunicorn this run started (its whole process group), politely then not."""
    while _servers:
        server = _servers.pop()
        if server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- signing in ---------------------------------------------------------------------------


def sign_in(port: int, path: str, marker: str) -> str:
    """Sign in through the real form (CSRF token and all); return the session cookie value.

    Loads `path` once so the session holds its CSRF token, and checks that the
    cookie then stays the same (otherwise every request would be a new session).
    """
    base = f"http://{HOST}:{port}"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]

    with opener.open(f"{base}/login", timeout=10) as response:
        form = response.read().decode()
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', form
    )
    if found is None:
        raise SystemExit("no csrf_token on /login")
    data = urllib.parse.urlencode(
        {"csrf_token": found.group(1), "email": RESIDENT_EMAIL, "password": PASSWORD}
    ).encode()
    with opener.open(f"{base}/login", data=data, timeout=30) as response:
        if urllib.parse.urlsplit(response.url).path == "/login":
            raise SystemExit("sign-in failed (is instance/config.py pointing at another DB?)")

    def cookie() -> str:
        values = [c.value for c in jar if c.name == "session"]
        if not values:
            raise SystemExit("no session cookie after signing in")
        return values[0]

    for attempt in range(2):
        before = cookie()
        with opener.open(f"{base}{path}", timeout=30) as response:
            body = response.read().decode()
            if response.status != 200 or marker not in body:
                raise SystemExit(f"{path} answered {response.status} without the full page")
        if cookie() == before and attempt:
            return before
    raise SystemExit("the session cookie keeps changing between page loads")


# --- load ---------------------------------------------------------------------------------

# No per-response Lua callback: parsing every 60 kB body in Lua costs wrk CPU on the
# same two cores and would slow the big page's figure for reasons that are not the
# server's. Instead wrk counts error statuses itself, the bytes per response must be
# at least the full page's body (a redirect to sign-in or an error page is far
# smaller), and the page is fetched and checked once more after the load.
WRK_SCRIPT = """
function done(summary, latency, requests)
  io.write(string.format("requests %d bytes %d\\n", summary.requests, summary.bytes))
  io.write(string.format("socket errors: %d %d %d %d status errors: %d\\n",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status))
end
"""


def load_with_wrk(port: int, path: str, headers: dict, marker: str, seconds: int,
                  workdir: Path, min_bytes: int) -> tuple[float, Counter]:
    script = workdir / "count.lua"
    script.write_text(WRK_SCRIPT)
    command = ["wrk", "-t2", "-c8", f"-d{seconds}s", "-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{HOST}:{port}{path}")
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                            check=True).stdout
    rps = re.search(r"Requests/sec:\s*([\d.]+)", output)
    totals = re.search(r"requests (\d+) bytes (\d+)", output)
    errors = re.search(r"socket errors: (\d+) (\d+) (\d+) (\d+) status errors: (\d+)", output)
    if rps is None or totals is None or errors is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    requests, received = int(totals.group(1)), int(totals.group(2))
    counts: Counter = Counter()
    if any(int(n) for n in errors.groups()[:4]):
        counts["socket error (connect read write timeout): " + " ".join(errors.groups()[:4])] += 1
    if int(errors.group(5)):
        counts["status >= 400"] += int(errors.group(5))
    if requests and received // requests < min_bytes:
        counts[f"short responses ({received // requests} bytes each, page is {min_bytes})"] += 1
    counts["200"] += requests - int(errors.group(5))
    return float(rps.group(1)), counts


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_with_python(port: int, path: str, headers: dict, marker: str, seconds: int,
                     connections: int = 8) -> tuple[float, Counter]:
    """wrk's stand-in: `connections` threads sending GETs for `seconds`.

    The Python client itself costs CPU on the same machine, so figures run
    lower than with wrk; the ratio between the two apps is what to compare.
    """
    wanted = marker.encode()
    counts: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        mine: Counter = Counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.monotonic() < deadline:
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                key = str(response.status)
                if response.status == 200 and wanted not in body:
                    key = "200-incomplete"
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException) as error:
                key = f"error {type(error).__name__}"
                conn.close()
            mine[key] += 1
        conn.close()
        with lock:
            counts.update(mine)

    started = time.monotonic()
    workers = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    return sum(counts.values()) / (time.monotonic() - started), counts


def fetch_checked(port: int, path: str, headers: dict, marker: str) -> int:
    """GET `path` once; it must be a 200 carrying `marker`. Returns the body's length."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200 or marker.encode() not in body:
        _failures.append(f"{path} answered {response.status} without the full page")
    return len(body)


def measure(name: str, port: int, path: str, headers: dict, marker: str, seconds: int,
            workdir: Path) -> float:
    """Warm up, then load `path` for `seconds`; print and return requests per second."""
    use_wrk = shutil.which("wrk") is not None
    page_bytes = fetch_checked(port, path, headers, marker)

    def run(duration: int) -> tuple[float, Counter]:
        if use_wrk:
            return load_with_wrk(port, path, headers, marker, duration, workdir, page_bytes)
        return load_with_python(port, path, headers, marker, duration)

    run(WARM_UP_SECONDS)
    rps, counts = run(seconds)
    fetch_checked(port, path, headers, marker)  # still signed in, still the whole page
    bad = {key: n for key, n in counts.items() if key != "200"}
    tool = "wrk -t2 -c8" if use_wrk else "python loop, 8 connections"
    say(f"{name}: {rps:.1f} req/s over {seconds}s ({tool}); {page_bytes} bytes a page; "
        f"responses {dict(counts)}")
    if bad or not counts:
        _failures.append(f"{name}: non-200 or incomplete responses: {bad or 'none at all'}")
    return rps


# --- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL",
                        default=os.environ.get("BENCH_DATABASE_URL") or None,
                        help="PostgreSQL URL (default: $BENCH_DATABASE_URL, else SQLite)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per app")
    parser.add_argument("--wipe", action="store_true",
                        help="allow wiping a PostgreSQL database that has tables")
    args = parser.parse_args()
    if not 1 <= args.duration <= 300:
        parser.error("--duration must be between 1 and 300 seconds")

    atexit.register(stop_servers)
    # Ctrl-C raises KeyboardInterrupt even when started in the background (where the
    # shell leaves SIGINT ignored); SIGTERM exits. Either way `finally` stops gunicorn.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="bulkbuy-bench-") as tmp:
        workdir = Path(tmp)
        try:
            if args.postgres:
                url = args.postgres
                prepare_postgres(url, args.wipe)
                say(f"database: PostgreSQL {url.rsplit('@', 1)[-1]}")
            else:
                url = f"sqlite:///{workdir / 'bench.sqlite'}"
                say("database: SQLite file in a temporary directory")
            round_id, last_item_id = build_database(url)

            env = {
                **os.environ,
                "DATABASE_URL": url,
                "SECRET_KEY": "bench-" + os.urandom(16).hex(),
                "BULKBUY_ENV": "development",  # plain http on 127.0.0.1: no Secure cookies
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            path = f"/rounds/{round_id}"
            marker = f'id="item-{last_item_id}"'  # the last product: the page is all there
            port = start_gunicorn("wsgi:app", env, workdir / "app.log", pythonpath=ROOT)
            cookie = sign_in(port, path, marker)
            headers = {"Cookie": f"session={cookie}", "User-Agent": USER_AGENT}
            round_rps = measure("round page", port, path, headers, marker, args.duration,
                                workdir)
            if (workdir / "app.log").stat().st_size:
                say(f"app log:\n{tail(workdir / 'app.log')}")
            stop_servers()

            port = start_gunicorn("hello_app:app", env, workdir / "hello.log", pythonpath=BENCH)
            hello_rps = measure("hello world", port, "/", {"User-Agent": USER_AGENT},
                                "Hello, World!", args.duration, workdir)
        finally:
            stop_servers()

    ratio = round_rps / hello_rps if hello_rps else 0.0
    for failure in _failures:
        say(f"ERROR {failure}")
    say(f"target ratio >= {TARGET_RATIO:.2f}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}")
    say(f"round_page_rps={round_rps:.1f} hello_rps={hello_rps:.1f} ratio={ratio:.3f}")
    return 1 if _failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        sys.exit(130)
