"""Benchmark: the production layout under many people at once (locust), against hello-world.

    python bench/load.py                        # 200 users for 3 minutes
    python bench/load.py --quick                # 40 users for 30 s: a smoke run
    python bench/load.py --postgres URL --users 100 --minutes 2
    python bench/load.py --users 600 --minutes 6 --ramp    # find the knee
    python bench/load.py --minutes 10                       # the memory soak

Builds a fresh PostgreSQL database with the migrated schema: one group of 500
households, each with a resident's account (one password, hashed once and used for
all), 30 organisers, 10 workers, every household with the same tablet PIN, and one
open round of 40 products with 2,777 pledge lines (bulk inserted). Then starts the
production layout of docs/operations.md on 127.0.0.1, each in its own process group:
a Redis of its own on a free port (the rate limits' store), gunicorn with 2 sync
workers (`--no-control-socket`, TRUSTED_PROXIES=1 as behind one reverse proxy,
SESSION_COOKIE_SECURE=false for plain http) and one `flask --app bulkbuy scheduler`,
and waits for /healthz.

Then locust, headless (no web UI), as a subprocess running bench/locustfile.py:
residents 80%, organisers 15%, tablet workers 5%, each waiting 2–5 s between pages,
through the real pages and forms. Users start at --spawn-rate (default: all of them
over the first minute, a third of the run), then stay for the rest of it. Then the
same users and waits against bench/hello_app.py under the same gunicorn settings, for
as long as the main run, at most 3 minutes (its users started over its first third
or minute, even after --ramp): its pages/s is
the most this load can ask for, so the app's pages/s is read against it.

What is timed, from every request locust made (client side, on this machine):

- pages_per_s, p50_ms, p95_ms: every request to the app (a form's POST and the page
  it redirects to are two) started once all users are running, per second and its
  median and 95th percentile;
- errors: every response of the whole run that was not what the page answers with
  (see bench/locustfile.py), sign-ins included;
- my_orders_p95_ms: GET /my-orders, once all users are running;
- round_page_hit_rate: the share of plain round page views (not the page shown after
  a +/−, which carries a message and is never kept) answered in under 10 ms, as
  the issue measured it: the app counts no hits of its kept copy, and a kept copy is
  served in a few ms while a full render takes about 20 ms of CPU. The same share
  from gunicorn's own request times is printed beside it;
- knee_pages_per_s: the run cut in 10-second windows (the spawn ramp included): the
  highest pages/s of a window before the first window whose p95 exceeds 500 ms. When
  no window exceeds it, the knee was not reached: the figure is then the highest
  pages/s seen (a floor), and the line says `knee_reached=no`. With --ramp the users
  start evenly over nine tenths of the run, so each window is a step up in load;
  knee_users is then about how many were running when p95 passed 500 ms;
- worker_rss_start_mib, worker_rss_end_mib: the mean resident memory of the two
  gunicorn workers (from /proc, every 5 s) once every user was running, and at the end
  of the run; boot, halfway and peak figures and a replaced worker are printed above it.

The last line printed is always

    users=N pages_per_s=... p50_ms=... p95_ms=... errors=N my_orders_p95_ms=...
    round_page_hit_rate=... knee_pages_per_s=... hello_pages_per_s=... knee_reached=...
    knee_users=... worker_rss_start_mib=... worker_rss_end_mib=... database=postgresql

(one line). A 5xx is reported with its page and the traceback from gunicorn's log,
and the run exits 1. Everything binds 127.0.0.1; every process started is stopped
(its whole process group) however the run ends, and the run stops itself within
--minutes, plus the hello-world run's (at most 3), plus 3 minutes.

PostgreSQL: the database's public schema is DROPPED and rebuilt; its name must contain
"bench". Without --postgres, scripts/ensure_postgres.sh makes `bulkbuy_bench_load`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402 - the database, free ports and the lines printed

HOST = harness.HOST
PASSWORD = harness.PASSWORD
PIN = "2580"
HOUSEHOLDS = 500
PRODUCTS = 40
PLEDGE_LINES = 2_777
ORGANISERS = 30  # one account each for the 15% of 200 users (taken in turn)
WORKERS = 10
RESIDENT_EMAIL = "resident{}@bench.example.org"
HIT_MS = 10  # a kept round page is served well under this; a full render is not
KNEE_P95_MS = 500
WINDOW_SECONDS = 10
RSS_EVERY = 5  # seconds between samples of the workers' memory
#: Targets (#18).
TARGET_P95_MS = 500
TARGET_KNEE = 70
TARGET_MY_ORDERS_MS = 50
say = harness.say

_processes: list[subprocess.Popen] = []


# --- the estate ---------------------------------------------------------------------------


def build_estate(url: str) -> dict:
    """Migrate and fill the database; return what locust needs to know of it."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select
    from tablet import PRODUCT_NAMES, UNITS  # bench/tablet.py's shelf of products

    from bulkbuy import create_app
    from bulkbuy.domain import labels
    from bulkbuy.extensions import db
    from bulkbuy.models import Household, Membership, PledgeLine, User, utcnow
    from bulkbuy.services import accounts, catalogue, rounds
    from config import Config, database_url

    app = create_app(
        Config, {"SQLALCHEMY_DATABASE_URI": database_url(url), "SECRET_KEY": "bench-build"}
    )
    with app.app_context():
        logging.disable(logging.INFO)  # Alembic's line per migration
        try:
            upgrade(directory=str(ROOT / "migrations"))
        finally:
            logging.disable(logging.NOTSET)
        now = utcnow()
        organiser = accounts.create_user("organiser0@bench.example.org", "Olive Organiser",
                                         PASSWORD)
        group = accounts.create_group("Bench Estate", "Europe/London", organiser, actor=None)
        supplier = catalogue.create_supplier(group.id, "Wholesaler", None, actor=organiser)
        made = [
            catalogue.save_product(
                supplier,
                catalogue.ProductFields(PRODUCT_NAMES[n], UNITS[n % len(UNITS)], 6 + n % 20,
                                        500 + 37 * n, None, f"P{n:02d}"),
                actor=organiser,
            )
            for n in range(PRODUCTS)
        ]
        rnd = rounds.create_round(
            group, supplier, made,
            rounds.RoundDetails(title="March bulk order", closes_at=now + timedelta(days=7),
                                delivery_fee_pence=1500, min_order_pence=10_000,
                                collection_place="Community centre"),
            created_by=organiser, now=now,
        )
        rounds.open_round(rnd, actor=organiser, now=now)
        db.session.flush()
        items = sorted(rnd.items, key=lambda i: i.id)

        # One password hash and one PIN hash, used by everybody (each is ~20 ms of CPU).
        password_hash = organiser.password_hash
        pin_hash = accounts.hash_secret(PIN)
        people = (
            [(RESIDENT_EMAIL.format(n), f"Resident {n}") for n in range(HOUSEHOLDS)]
            + [(f"organiser{n}@bench.example.org", f"Organiser {n}")
               for n in range(1, ORGANISERS)]
            + [(f"worker{n}@bench.example.org", f"Worker {n}") for n in range(WORKERS)]
        )
        user_ids = db.session.scalars(
            insert(User).returning(User.id, sort_by_parameter_order=True),
            [{"email": email, "name": name, "password_hash": password_hash}
             for email, name in people],
        ).all()
        blocks = ("Birch House", "Cedar Court", "Elm Terrace", "Oak Row", None)
        home_labels = [f"Flat {n}" for n in range(HOUSEHOLDS)]
        homes = db.session.scalars(
            insert(Household).returning(Household.id, sort_by_parameter_order=True),
            [{"group_id": group.id, "label": label, "label_key": labels.label_key(label),
              "block": blocks[n % len(blocks)], "pin_hash": pin_hash}
             for n, label in enumerate(home_labels)],
        ).all()
        roles = (["member"] * HOUSEHOLDS + ["organiser"] * (ORGANISERS - 1)
                 + ["worker"] * WORKERS)
        db.session.execute(insert(Membership), [
            {"user_id": user_id, "group_id": group.id, "role": role,
             "household_id": homes[n] if n < HOUSEHOLDS else None}
            for n, (user_id, role) in enumerate(zip(user_ids, roles, strict=True))
        ])

        start = (db.session.scalar(select(func.max(PledgeLine.queue_pos))) or 0) + 1
        extra = PLEDGE_LINES - 5 * HOUSEHOLDS  # this many households have 6 lines, not 5
        rows = [
            {
                "round_id": rnd.id,
                "round_item_id": items[(n * 7 + k * 11) % PRODUCTS].id,
                "household_id": home_id,
                "queue_pos": 0,
                "quantity": 1 + (n + k) % 4,
                "tolerance": (n + k) % 3,
                "created_at": now,
                "entered_by_id": user_ids[n],
            }
            for n, home_id in enumerate(homes)
            for k in range(6 if n < extra else 5)
        ]
        for position, row in enumerate(rows):
            row["queue_pos"] = start + position
        db.session.execute(insert(PledgeLine), rows)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(select(func.setval("pledge_queue_seq", start + len(rows))))
        db.session.commit()
        lines = db.session.scalar(select(func.count()).select_from(PledgeLine))
        say(f"estate: {HOUSEHOLDS} households with accounts, {ORGANISERS} organisers, "
            f"{WORKERS} workers, {len(items)} products, {lines} pledge lines, round {rnd.id}")
        estate = {
            "group_id": group.id,
            "round_id": rnd.id,
            "round_marker": f'id="item-{max(items, key=lambda i: i.name).id}"',
            "residents": HOUSEHOLDS,
            "resident_email": RESIDENT_EMAIL,
            "organiser_emails": [f"organiser{n}@bench.example.org" for n in range(ORGANISERS)],
            "worker_emails": [f"worker{n}@bench.example.org" for n in range(WORKERS)],
            "household_ids": list(homes),
            "password": PASSWORD,
            "pin": PIN,
        }
        db.session.remove()
        db.engine.dispose()
    return estate


# --- processes ----------------------------------------------------------------------------


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start `command` in its own process group, its output to `log`; stopped at exit."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    _processes.append(process)
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop one process's whole group, politely then not."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    if process in _processes:
        _processes.remove(process)


def stop_all() -> None:
    while _processes:
        stop(_processes[-1])


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    """Wait until `url` answers (any status below 500, or 503 from /healthz)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[:4]} exited:\n{harness.tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                response.read()
                return
        except urllib.error.HTTPError as error:
            if error.code < 500 or error.code == 503:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {seconds:.0f} s:\n{harness.tail(log)}")


def start_redis(workdir: Path) -> str:
    """A Redis of this run's own on a free port (nothing kept on disk); its URL."""
    port = harness.free_port()
    log = workdir / "redis.log"
    process = start(["redis-server", "--bind", HOST, "--port", str(port), "--save", "",
                     "--appendonly", "no", "--dir", str(workdir)], os.environ.copy(), log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"redis-server exited:\n{harness.tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return f"redis://{HOST}:{port}"
        time.sleep(0.1)
    raise SystemExit("redis-server did not answer in 10 s")


def redis_url(workdir: Path) -> str:
    """Its own redis-server when installed, else scripts/ensure_redis.sh's (shared: the
    run's keys are apart under a prefix of its own)."""
    if shutil.which("redis-server"):
        return start_redis(workdir)
    found = subprocess.run(["bash", str(ROOT / "scripts" / "ensure_redis.sh")],
                           capture_output=True, text=True, timeout=300)
    if found.returncode or not found.stdout.strip():
        raise SystemExit(f"no Redis: {found.stderr.strip()}")
    return found.stdout.strip()


def start_gunicorn(app_spec: str, env: dict, workdir: Path, name: str,
                   pythonpath: Path, ready_path: str) -> tuple[int, subprocess.Popen]:
    """gunicorn, 2 sync workers, on a free port of 127.0.0.1, logging each request's
    time in microseconds (%(D)s) to NAME-access.log."""
    port = harness.free_port()
    log = workdir / f"{name}.log"
    process = start([
        sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", "2", "-k", "sync",
        "-b", f"{HOST}:{port}", "--pythonpath", str(pythonpath),
        "--access-logfile", str(workdir / f"{name}-access.log"),
        "--access-logformat", '%(m)s %(U)s %(s)s %(D)s',
        "--error-logfile", "-", app_spec,
    ], env, log)
    wait_for(f"http://{HOST}:{port}{ready_path}", process, log)
    return port, process


def run_locust(port: int, classes: list[str], users: int, spawn_rate: float, seconds: int,
               env: dict, workdir: Path, name: str) -> dict:
    """locust, headless, for `seconds`; returns its records (see bench/locustfile.py)."""
    records = workdir / f"{name}-records.json"
    log = workdir / f"{name}-locust.log"
    command = [
        sys.executable, "-m", "locust", "-f", str(BENCH / "locustfile.py"), "--headless",
        "--host", f"http://{HOST}:{port}", "-u", str(users), "-r", f"{spawn_rate:g}",
        "-t", f"{seconds}s", "--stop-timeout", "5", "--only-summary", "--loglevel", "WARNING",
        *classes,
    ]
    process = start(command, {**env, "BENCH_LOAD_RECORDS": str(records)}, log)
    try:
        process.wait(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        harness.fail(f"locust ({name}) did not stop by itself: stopped")
    stop(process)
    if not records.exists():
        raise SystemExit(f"locust ({name}) wrote no records:\n{harness.tail(log)}")
    if "Traceback" in log.read_text(errors="replace"):  # a person's code broke: not the app
        harness.fail(f"locust ({name}) logged an exception:\n{harness.tail(log, 15)}")
    return json.loads(records.read_text())


# --- the workers' memory --------------------------------------------------------------------


def rss_mib(pid: int) -> float | None:
    """Resident set size of one process in MiB (VmRSS from /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children (its workers), from /proc."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task_dir in Path(f"/proc/{master}/task").iterdir():
            text = (task_dir / "children").read_text()
            children += [int(pid) for pid in text.split()]
    return sorted(children)


class MemoryWatch:
    """Samples each gunicorn worker's RSS every RSS_EVERY seconds in a thread of its own,
    as (time, {pid: MiB}); a worker that was replaced shows as a new pid."""

    def __init__(self, master: int) -> None:
        import threading

        self.master = master
        self.samples: list[tuple[float, dict[int, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=RSS_EVERY + 5)

    def _run(self) -> None:
        while True:
            found = {pid: rss for pid in worker_pids(self.master)
                     if (rss := rss_mib(pid)) is not None}
            if found:
                self.samples.append((time.time(), found))
            if self._stop.wait(RSS_EVERY):
                return

    def at(self, moment: float) -> tuple[float, dict[int, float]] | None:
        """The first sample taken at or after `moment` (else the last one)."""
        for sample in self.samples:
            if sample[0] >= moment:
                return sample
        return self.samples[-1] if self.samples else None


def memory_report(watch: MemoryWatch, since: float | None) -> dict:
    """RSS (mean of the workers, MiB) at boot, once every user was running (`since`),
    halfway from there to the end, and at the end; the peak; and whether any worker
    was replaced (a new pid: its memory started again)."""
    if not watch.samples:
        return {}
    boot, end = watch.samples[0], watch.samples[-1]
    start = watch.at(since) if since else boot
    middle = watch.at(start[0] + (end[0] - start[0]) / 2)

    def mean(sample):
        return sum(sample[1].values()) / len(sample[1])

    pids = {pid for _t, found in watch.samples for pid in found}
    return {
        "boot": mean(boot), "start": mean(start), "middle": mean(middle), "end": mean(end),
        "peak": max(max(found.values()) for _t, found in watch.samples),
        "minutes": (end[0] - start[0]) / 60, "replaced": len(pids) > 2,
        "per_worker_end": sorted(end[1].values()),
    }


# --- what the records say -----------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def steady(result: dict) -> tuple[list, float]:
    """The requests started once every user was running, and how long that lasted."""
    records = result["records"]
    if not records:
        return [], 0.0
    since = result["spawned_at"] or records[0][0]
    until = max(started + ms / 1000 for started, _name, ms, _ok, _why in records)
    return [r for r in records if r[0] >= since], max(until - since, 1e-9)


def knee(records: list) -> tuple[float, int | None, list[tuple[float, float]]]:
    """(knee pages/s, the first window whose p95 exceeded KNEE_P95_MS or None, each
    window's (pages/s, p95))."""
    if not records:
        return 0.0, None, []
    first = min(r[0] for r in records)
    windows: dict[int, list[float]] = defaultdict(list)
    for started, _name, ms, _ok, _why in records:
        windows[int((started - first) // WINDOW_SECONDS)].append(ms)
    last = max(windows)
    seen = [(len(windows[w]) / WINDOW_SECONDS, percentile(windows[w], 0.95))
            for w in range(last)]  # the last window is cut short by the stop
    best = 0.0
    for index, (rate, p95) in enumerate(seen):
        if p95 > KNEE_P95_MS:
            return best, index, seen
        best = max(best, rate)
    return best, None, seen


def server_round_hits(access_log: Path, round_id: int, after_press: int) -> tuple[int, int]:
    """(plain round page views gunicorn answered in under HIT_MS, plain views), from
    gunicorn's own request times; the views shown after a +/− (which are never kept)
    are taken off the total, as the access log cannot tell them apart."""
    pattern = re.compile(rf"^GET /rounds/{round_id} 200 (\d+)$")
    fast = total = 0
    with contextlib.suppress(OSError):
        for line in access_log.read_text().splitlines():
            found = pattern.match(line.strip())
            if found:
                total += 1
                fast += int(found.group(1)) < HIT_MS * 1000
    return fast, max(total - after_press, 0)


def crashes(access_log: Path, app_log: Path) -> list[str]:
    """Each 5xx from gunicorn's access log (page and count), and the app's tracebacks."""
    counts: Counter = Counter()
    with contextlib.suppress(OSError):
        for line in access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[2].startswith("5"):
                counts[f"{parts[0]} {parts[1]} {parts[2]}"] += 1
    if not counts:
        return []
    text = app_log.read_text(errors="replace") if app_log.exists() else ""
    tracebacks = re.findall(r"Traceback \(most recent call last\):.*?(?=\n\S[^\n]*\n\S|\Z)",
                            text, re.S)
    found = [f"5xx: {page} x{n}" for page, n in counts.most_common()]
    return found + [f"traceback:\n{t.strip()}" for t in tracebacks[:3]]


def per_page(records: list) -> None:
    by_name: dict[str, list] = defaultdict(list)
    for _started, name, ms, ok, _why in records:
        by_name[name].append((ms, ok))
    say(f"{'page':<28} {'n':>6} {'p50_ms':>8} {'p95_ms':>8} {'max_ms':>8} {'errors':>6}")
    for name in sorted(by_name):
        times = [ms for ms, _ok in by_name[name]]
        errors = sum(1 for _ms, ok in by_name[name] if not ok)
        say(f"{name:<28} {len(times):>6} {percentile(times, 0.5):>8.0f} "
            f"{percentile(times, 0.95):>8.0f} {max(times):>8.0f} {errors:>6}")


# --- main ---------------------------------------------------------------------------------


def postgres_url(args: argparse.Namespace) -> str:
    if args.postgres:
        return args.postgres
    found = subprocess.run(["bash", str(ROOT / "scripts" / "ensure_postgres.sh")],
                           env={**os.environ, "TEST_DB_NAME": "bulkbuy_bench_load"},
                           capture_output=True, text=True, timeout=300)
    if found.returncode or not found.stdout.strip():
        raise SystemExit(f"no PostgreSQL: {found.stderr.strip()}")
    return found.stdout.strip()


def main() -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL",
                        default=os.environ.get("BENCH_DATABASE_URL") or None,
                        help="PostgreSQL URL; its name must contain 'bench' (default: "
                             "$BENCH_DATABASE_URL, else bulkbuy_bench_load from "
                             "scripts/ensure_postgres.sh)")
    parser.add_argument("--users", type=int, default=None, help="users at once (200)")
    parser.add_argument("--spawn-rate", type=float, default=None,
                        help="users started a second (default: all over the first minute)")
    parser.add_argument("--minutes", type=float, default=None, help="minutes of load (3)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 40 users for 30 s (unless given)")
    parser.add_argument("--ramp", action="store_true",
                        help="start the users over nine tenths of the run instead of the "
                             "first minute, to find where p95 passes 500 ms (the knee)")
    args = parser.parse_args()
    users = args.users or (40 if args.quick else 200)
    minutes = args.minutes or (0.5 if args.quick else 3.0)
    if not 1 <= users <= 1000 or not 0.25 <= minutes <= 30:
        parser.error("--users must be 1..1000 and --minutes 0.25..30")
    seconds = int(minutes * 60)
    spawn_rate = args.spawn_rate or (users / (seconds * 0.9) if args.ramp
                                     else users / min(60, seconds / 3))
    # The hello-world run is the baseline at full load: at most 3 minutes, its users
    # started over its first third (or minute), whatever the app's run did.
    hello_limit = min(seconds, 180)
    hello_spawn_rate = users / min(60, hello_limit / 3)
    deadline = started + seconds + hello_limit + 180  # the run stops itself by then

    say(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the "
        "start (other work on this machine slows every figure)")
    harness.stop_on_signals()
    import atexit

    atexit.register(stop_all)
    with tempfile.TemporaryDirectory(prefix="bulkbuy-bench-load-") as tmp:
        workdir = Path(tmp)
        try:
            url = postgres_url(args)
            harness.wipe_bench_database(url)
            say(f"database: PostgreSQL {url.rsplit('@', 1)[-1]}")
            estate = build_estate(url)
            (workdir / "estate.json").write_text(json.dumps(estate))
            redis = redis_url(workdir)
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "SECRET_KEY": "bench-" + os.urandom(16).hex(),
                "SESSION_COOKIE_SECURE": "false",  # plain http on 127.0.0.1
                "RATELIMIT_STORAGE_URI": redis,
                "RATELIMIT_KEY_PREFIX": "bulkbuy-bench-load-" + os.urandom(6).hex(),
                "TRUSTED_PROXIES": "1",  # as behind one reverse proxy: X-Forwarded-For
                "LOG_LEVEL": "WARNING",
                "PYTHONDONTWRITEBYTECODE": "1",
                "BENCH_LOAD_ESTATE": str(workdir / "estate.json"),
            }
            env.pop("BULKBUY_ENV", None)  # production, as docs/operations.md starts it
            port, app = start_gunicorn("wsgi:app", env, workdir, "app", ROOT, "/healthz")
            scheduler = start([sys.executable, "-m", "flask", "--app", "bulkbuy", "scheduler"],
                              env, workdir / "scheduler.log")
            say(f"layout: gunicorn -w 2 on {HOST}:{port}, scheduler, Redis {redis}; "
                f"locust {users} users at {spawn_rate:g}/s for {seconds} s "
                f"(80/15/5 residents/organisers/tablet workers, 2-5 s between pages)")
            with MemoryWatch(app.pid) as watch:
                result = run_locust(port, ["Resident", "Organiser", "TabletWorker"], users,
                                    spawn_rate, seconds, env, workdir, "app")
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz",  # noqa: S310
                                        timeout=10) as response:
                health = json.loads(response.read())
            say(f"healthz after the run: status={health.get('status')} "
                f"database={health.get('database')}; scheduler "
                f"{'still running' if scheduler.poll() is None else 'EXITED'}")
            if scheduler.poll() is not None:
                harness.fail(f"the scheduler exited:\n{harness.tail(workdir / 'scheduler.log')}")
            found_crashes = crashes(workdir / "app-access.log", workdir / "app.log")
            after_press = sum(1 for r in result["records"] if r[1] == "round page after +/-")
            fast, plain = server_round_hits(workdir / "app-access.log", estate["round_id"],
                                            after_press)
            stop_all()

            hello_seconds = int(min(hello_limit, deadline - time.monotonic() - 45))
            if hello_seconds < 20:
                raise SystemExit("no time left for the hello-world run")
            hello_port, _hello = start_gunicorn("hello_app:app", env, workdir, "hello", BENCH,
                                                "/")
            say(f"hello-world: the same {users} users and waits for {hello_seconds} s")
            hello = run_locust(hello_port, ["HelloUser"], users, hello_spawn_rate,
                               hello_seconds, env, workdir, "hello")
            stop_all()
        finally:
            stop_all()

    # --- the figures
    all_records = result["records"]
    records, span = steady(result)
    hello_records, hello_span = steady(hello)
    times = [ms for _s, _n, ms, _ok, _w in records]
    errors = sum(1 for r in all_records if not r[3])
    my_orders = [ms for _s, name, ms, _ok, _w in records if name == "my orders"]
    views = [ms for _s, name, ms, _ok, _w in all_records if name == "round page"]
    hit_rate = sum(1 for ms in views if ms < HIT_MS) / len(views) if views else 0.0
    knee_rate, first_bad, windows = knee(all_records)
    reached = first_bad is not None
    # Users running at the knee: those started by the end of the last window under the
    # limit (the ramp is even, so this is an estimate to the nearest few users).
    knee_users = (min(users, round(spawn_rate * first_bad * WINDOW_SECONDS)) if reached
                  else users)
    memory = memory_report(watch, result.get("spawned_at"))
    pages_per_s = len(records) / span if records else 0.0
    hello_per_s = len(hello_records) / hello_span if hello_records else 0.0

    say("the whole run (the ramp and every sign-in included):")
    per_page(all_records)
    say(f"once all {users} users were running ({span:.0f} s):")
    per_page(records)
    say("10-second windows, whole run (pages/s, p95 ms): "
        + " ".join(f"{rate:.1f}/{p95:.0f}" for rate, p95 in windows))
    wrong = Counter(f"{name}: {why}" for _s, name, _ms, ok, why in all_records if not ok)
    for what, n in wrong.most_common(8):
        say(f"error x{n}: {what}")
    say(f"round page views under {HIT_MS} ms (client side): "
        f"{sum(1 for ms in views if ms < HIT_MS)} of {len(views)}")
    say(f"round page views under {HIT_MS} ms (gunicorn's own request time, views after a "
        f"+/- taken off): {fast} of {plain} ({fast / plain if plain else 0:.3f})")
    missing = {"round page", "my orders", "organiser dashboard", "tablet order",
               "tablet order after +"} - {
        r[1] for r in all_records}
    if missing:
        harness.fail(f"no request at all for: {', '.join(sorted(missing))}")
    for crash in found_crashes:
        harness.fail(crash)
    if errors:
        harness.fail(f"{errors} requests were errors")
    status = harness.report_failures()

    p95 = percentile(times, 0.95)
    mean_my_orders = sum(my_orders) / len(my_orders) if my_orders else 0.0
    worst = max(((name, percentile([ms for _s, n, ms, _ok, _w in records if n == name], 0.95))
                 for name in {r[1] for r in records}), key=lambda pair: pair[1],
                default=("-", 0.0))
    met = {True: "met", False: "NOT met"}
    say(f"targets: 0 errors {met[errors == 0]}; p95 < {TARGET_P95_MS} ms for every page "
        f"{met[worst[1] < TARGET_P95_MS]} (slowest: {worst[0]} {worst[1]:.0f} ms); knee >= "
        f"{TARGET_KNEE} pages/s {met[knee_rate >= TARGET_KNEE]}"
        + ("" if reached else " (knee not reached: the figure is the most seen)")
        + f"; My orders < {TARGET_MY_ORDERS_MS} ms "
          f"{met[mean_my_orders < TARGET_MY_ORDERS_MS]} (mean under load "
          f"{mean_my_orders:.0f} ms, with {PLEDGE_LINES:,} lines)")
    if memory:
        say(f"worker memory (mean RSS of the 2 workers, MiB): boot {memory['boot']:.1f}, "
            f"all users running {memory['start']:.1f}, halfway {memory['middle']:.1f}, end "
            f"{memory['end']:.1f} ({memory['minutes']:.1f} min after the start figure); "
            f"peak of one worker {memory['peak']:.1f}; each at the end "
            + ", ".join(f"{mib:.1f}" for mib in memory["per_worker_end"])
            + ("; A WORKER WAS REPLACED during the run (its memory started again)"
               if memory["replaced"] else ""))
    if reached:
        say(f"knee: p95 first passed {KNEE_P95_MS} ms in window {first_bad + 1}, with about "
            f"{knee_users} users running")
    say(f"time taken: {time.monotonic() - started:.0f} s (limit "
        f"{seconds + hello_limit + 180} s); load "
        f"average at the end {os.getloadavg()[0]:.2f}")
    say(f"users={users} pages_per_s={pages_per_s:.1f} p50_ms={percentile(times, 0.5):.0f} "
        f"p95_ms={p95:.0f} errors={errors} my_orders_p95_ms={percentile(my_orders, 0.95):.0f} "
        f"round_page_hit_rate={hit_rate:.3f} knee_pages_per_s={knee_rate:.1f} "
        f"hello_pages_per_s={hello_per_s:.1f} knee_reached={'yes' if reached else 'no'} "
        f"knee_users={knee_users} worker_rss_start_mib={memory.get('start', 0):.1f} "
        f"worker_rss_end_mib={memory.get('end', 0):.1f} database=postgresql")
    return status


if __name__ == "__main__":
    harness.run_main(main)
