"""Run one localstripe (a fake Stripe server) on 127.0.0.1 for a test run.

localstripe keeps all state in one fixed file, /tmp/localstripe.pickle,
rewritten on every write, so only one may run at a time: `start()` takes an
exclusive lock (/tmp/localstripe.lock) for as long as the server runs and
fails at once if another test run holds it. The server is started from
Python bound to loopback (its own `localstripe` command binds every
interface) and never loads old state; the stale pickle is deleted first.
Wipe its data between tests with `wipe(base_url)`.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

PICKLE = Path("/tmp/localstripe.pickle")  # noqa: S108 - fixed in localstripe itself
LOCK = Path("/tmp/localstripe.lock")  # noqa: S108 - beside the pickle it guards
#: Any sk_test_ key is accepted by localstripe.
TEST_KEY = "sk_test_bulkbuy_localstripe"

_SERVE = (
    "import sys, aiohttp.web, localstripe.server\n"
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


def _request(base_url: str, method: str, path: str, timeout: float = 5.0) -> int:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {TEST_KEY}"})
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


class LocalstripeServer:
    """One localstripe subprocess; use as a context manager or call start()/stop()."""

    def __init__(self, startup_timeout: float = 20.0):
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._lock_file = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start the server, wait until it answers, and return its base URL."""
        self._take_lock()
        try:
            PICKLE.unlink(missing_ok=True)
            self.port = free_port()
            self._log = tempfile.TemporaryFile()
            self.process = subprocess.Popen(
                [sys.executable, "-c", _SERVE, str(self.port)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            )
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _take_lock(self) -> None:
        self._lock_file = open(LOCK, "w")  # held until stop()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise LocalstripeError(
                f"another test run holds {LOCK}: localstripe shares /tmp/localstripe.pickle, "
                "so only one may run at a time") from None

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
        """Terminate the server (kill it if it does not exit within 5 s) and free the lock."""
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
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


if __name__ == "__main__":  # manual use: python -m tests.localstripe_server
    with LocalstripeServer() as url:
        print(f"localstripe on {url} (key {TEST_KEY}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
