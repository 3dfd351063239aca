"""What the page benchmarks share: the database, the servers, signing in, the load, and
the lines they print.

bench/round_page.py and bench/tablet.py (and bench/close.py, bench/charge.py for the
database) use it; none of them has a copy of its own. Everything here stays on
127.0.0.1.

- `database_url(args, workdir)`: PostgreSQL from --postgres / $BENCH_DATABASE_URL (its
  public schema dropped and rebuilt, only when the database is empty, its name contains
  "bench", or --wipe is given), else a SQLite file in the run's temporary directory;
- `start_gunicorn` / `stop_servers`: gunicorn with 2 sync workers on a free port, in its
  own process group, stopped at exit;
- `sign_in`: the real sign-in form, CSRF token and all;
- `measure`: wrk -t2 -c8 when installed, else the Python load loop (8 connections),
  after a warm-up, every response checked;
- `hello_rps`: bench/hello_app.py under the same settings, in the same run;
- `ratio_line`: `NAME_rps=... hello_rps=... ratio=...`.
"""

from __future__ import annotations

import argparse
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
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"  # all traffic stays on this machine
USER_AGENT = "bulkbuy-bench/1"  # sign-in uses "strong" session protection: keep it constant
PASSWORD = "password123"  # noqa: S105 - a throwaway benchmark database
WARM_UP_SECONDS = 2

_servers: list[subprocess.Popen] = []
#: What went wrong in this run (printed as ERROR lines; the bench then exits 1).
_failures: list[str] = []


def fail(message: str) -> None:
    """Note something that makes this run's figures not count."""
    _failures.append(message)


def failures() -> list[str]:
    return list(_failures)


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


def sign_in(port: int, path: str, marker: str, email: str) -> str:
    """Sign in as `email` through the real form (CSRF token and all); return the session
    cookie value.

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
        {"csrf_token": found.group(1), "email": email, "password": PASSWORD}
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
        fail(f"{path} answered {response.status} without the full page")
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
        fail(f"{name}: non-200 or incomplete responses: {bad or 'none at all'}")
    return rps


# --- a run ---------------------------------------------------------------------------------


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """--postgres URL (default $BENCH_DATABASE_URL, else SQLite) and --wipe."""
    parser.add_argument("--postgres", metavar="URL",
                        default=os.environ.get("BENCH_DATABASE_URL") or None,
                        help="PostgreSQL URL (default: $BENCH_DATABASE_URL, else SQLite)")
    parser.add_argument("--wipe", action="store_true",
                        help="allow wiping a PostgreSQL database that has tables")


def database_url(args: argparse.Namespace, workdir: Path) -> str:
    """The run's database: PostgreSQL (wiped, see prepare_postgres) when asked, else a
    SQLite file in `workdir`. Says which."""
    if args.postgres:
        prepare_postgres(args.postgres, args.wipe)
        say(f"database: PostgreSQL {args.postgres.rsplit('@', 1)[-1]}")
        return args.postgres
    say("database: SQLite file in a temporary directory")
    return f"sqlite:///{workdir / 'bench.sqlite'}"


def app_environment(url: str, **extra: str) -> dict:
    """The environment gunicorn serves the app with."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "BULKBUY_ENV": "development",  # plain http on 127.0.0.1: no Secure cookies
        "PYTHONDONTWRITEBYTECODE": "1",
        **extra,
    }


def stop_on_signals() -> None:
    """Stop the servers however the run ends. Ctrl-C raises KeyboardInterrupt even when
    started in the background (where the shell leaves SIGINT ignored); SIGTERM exits."""
    import atexit

    atexit.register(stop_servers)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def hello_rps(env: dict, workdir: Path, seconds: int) -> float:
    """bench/hello_app.py's requests per second under the same gunicorn and load."""
    port = start_gunicorn("hello_app:app", env, workdir / "hello.log", pythonpath=BENCH)
    try:
        return measure("hello world", port, "/", {"User-Agent": USER_AGENT}, "Hello, World!",
                       seconds, workdir)
    finally:
        stop_servers()


def ratio(rps: float, hello: float) -> float:
    return rps / hello if hello else 0.0


def ratio_line(name: str, rps: float, hello: float) -> str:
    """`NAME_rps=... hello_rps=... ratio=...`, the line the page benchmarks end with."""
    return f"{name}_rps={rps:.1f} hello_rps={hello:.1f} ratio={ratio(rps, hello):.3f}"


def report_failures() -> int:
    """Print each failure as an ERROR line; the exit status for the run (1 if any)."""
    for failure in _failures:
        say(f"ERROR {failure}")
    return 1 if _failures else 0


def run_main(main) -> None:
    """sys.exit(main()), with Ctrl-C stopping the servers and exiting 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        sys.exit(130)


def wipe_bench_database(url: str) -> None:
    """Drop and recreate the public schema of a PostgreSQL database whose name contains
    "bench" (bench/close.py and bench/charge.py make their own); refuse any other."""
    from sqlalchemy import make_url

    from config import database_url

    name = make_url(database_url(url)).database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to wipe database {name!r}: use one whose name has 'bench'")
    prepare_postgres(url, wipe=True)
