"""Run one localstripe (a fake Stripe server) on 127.0.0.1 for a test run.

localstripe rewrites its whole state to one fixed file, /tmp/localstripe.pickle,
after every write, so two servers would overwrite each other's file. Ours is
started from Python bound to loopback (its own `localstripe` command binds
every interface), never loads old state, and writes that same pickle to a
file of its own instead (same cost per write, so it slows down as its state
grows just as localstripe does): several test runs may run at once. Wipe its
data between tests with `wipe(base_url)`. `register_webhook` points its
signed webhooks at an app.

Also used by `make run` (python -m devtools.localstripe_server --port 8420 ...).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

#: Any sk_test_ key is accepted by localstripe.
TEST_KEY = "sk_test_bulkbuy_localstripe"

_SERVE = (
    "import os, pickle, sys, aiohttp.web, localstripe.resources, localstripe.server\n"
    "loading = False\n"
    # Unpickling the store calls its __setitem__, which dumps: not while loading. Written
    # to a side file and renamed, so a kill mid-write never leaves a truncated state.
    "def dump_to_disk(store, path=sys.argv[2]):\n"
    "    if loading:\n"
    "        return\n"
    "    with open(path + '.tmp', 'wb') as f:\n"
    "        pickle.dump(store, f, protocol=pickle.HIGHEST_PROTOCOL)\n"
    "    os.replace(path + '.tmp', path)\n"
    "localstripe.resources.Store.dump_to_disk = dump_to_disk\n"
    "if sys.argv[3] == 'load' and os.path.exists(sys.argv[2]):\n"
    "    loading = True\n"
    "    with open(sys.argv[2], 'rb') as f:\n"
    "        dict.update(localstripe.resources.store, pickle.load(f))\n"
    "    loading = False\n"
    "aiohttp.web.run_app(localstripe.server.app, host='127.0.0.1',"
    " port=int(sys.argv[1]), print=None, access_log=None)\n"
)


class LocalstripeError(RuntimeError):
    """localstripe could not be started (but is installed)."""


def is_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("localstripe", "aiohttp"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (and nothing listens on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(base_url: str, method: str, path: str, timeout: float = 5.0,
             body: str | None = None) -> int:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wipe(base_url: str) -> None:
    """Delete every object in the running localstripe (`DELETE /_config/data`)."""
    status = _request(base_url, "DELETE", "/_config/data")
    if status != 200:
        raise LocalstripeError(f"wiping localstripe answered HTTP {status}")


def register_webhook(base_url: str, url: str, secret: str, name: str = "bulkbuy") -> None:
    """Have localstripe send every event to `url`, signed with `secret` (1 s after it)."""
    body = json.dumps({"url": url, "secret": secret})
    status = _request(base_url, "POST", f"/_config/webhooks/{name}", body=body)
    if status != 200:
        raise LocalstripeError(f"registering a webhook answered HTTP {status}")


class LocalstripeServer:
    """One localstripe subprocess; use as a context manager or call start()/stop()."""

    def __init__(self, startup_timeout: float = 20.0, port: int | None = None,
                 state_file: str | None = None):
        """`state_file`: keep the state there and load it at start (the demo); by
        default a fresh, private temporary file."""
        self.startup_timeout = startup_timeout
        self.port: int | None = port
        self.state_file = state_file
        self.process: subprocess.Popen | None = None
        self._state_dir: tempfile.TemporaryDirectory | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start the server, wait until it answers, and return its base URL."""
        try:
            if self.state_file:
                state, load = Path(self.state_file), "load"
            else:
                self._state_dir = tempfile.TemporaryDirectory(prefix="localstripe-")
                state, load = Path(self._state_dir.name) / "localstripe.pickle", "fresh"
            self.port = self.port or free_port()
            self._log = tempfile.TemporaryFile()
            self.process = subprocess.Popen(
                [sys.executable, "-c", _SERVE, str(self.port), str(state), load],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            )
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise LocalstripeError(
                    f"localstripe exited with {self.process.returncode}:\n{self._output()}")
            try:
                if _request(self.base_url, "GET", "/v1/customers?limit=1", timeout=1.0) == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LocalstripeError(
                    f"localstripe did not answer on {self.base_url} within "
                    f"{self.startup_timeout:.0f} s:\n{self._output()}")
            time.sleep(0.05)

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-4000:].decode(errors="replace")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 5 s) and delete its state."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._state_dir is not None:
            self._state_dir.cleanup()
            self._state_dir = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """`python -m devtools.localstripe_server [--port N] [--webhook URL --secret S]`."""
    import argparse

    parser = argparse.ArgumentParser(description="Run localstripe on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--webhook", help="send signed events to this URL")
    parser.add_argument("--secret", default="whsec_bulkbuy_demo", help="webhook secret")
    parser.add_argument("--state", help="keep the fake's data in this file between runs")
    args = parser.parse_args(argv)
    # `kill` (SIGTERM) stops the server process too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with LocalstripeServer(port=args.port, state_file=args.state) as url:
        if args.webhook:
            register_webhook(url, args.webhook, args.secret)
        print(f"localstripe on {url} (key {TEST_KEY}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
