"""A fault-injecting HTTP reverse proxy on 127.0.0.1: a fake, for tests only.

It sits between the code under test and an upstream (normally localstripe)
and forwards every request unchanged, except the ones a test asked to fail
with `fail_next()`. That gives the faults localstripe cannot produce:

- "rate_limited": answer 429 with a Stripe-shaped error; not forwarded.
- "server_error": answer 500 with a Stripe-shaped error; not forwarded.
- "timeout": not forwarded; hold the connection `hang_seconds`, then close
  it without a response.
- "lost_response": forwarded and answered upstream, then the client gets a
  500 (the upstream acted, the caller never saw the answer).
- "drop_after_forward": forwarded and answered upstream, then the client
  connection is closed without any response.

An unreachable server is not a fault kind: point the client at
`closed_port_url()`.

Responses go back as HTTP/1.1 with `Connection: close` and a recomputed
Content-Length. If the upstream cannot be reached the proxy answers 502.
Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import urlsplit

KINDS = ("rate_limited", "server_error", "timeout", "lost_response", "drop_after_forward")

#: Hop-by-hop headers (RFC 9110 7.6.1) and those the proxy rewrites itself.
_NOT_RELAYED = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "expect", "host", "content-length",
})

_RATE_LIMITED = {"error": {
    "type": "rate_limit_error", "code": "rate_limit", "message": "Too many requests (fault proxy)",
}}
_SERVER_ERROR = {"error": {"type": "api_error", "message": "Internal error (fault proxy)"}}
_LOST_RESPONSE = {"error": {"type": "api_error", "message": "Response lost (fault proxy)"}}
_BAD_GATEWAY = {"error": {"type": "api_error", "message": "Upstream unreachable (fault proxy)"}}


class RecordedRequest(NamedTuple):
    """One request the proxy received. `path` has no query string; `status` is
    the status sent to the client (None while in flight or when no response was
    sent); `at` is time.monotonic() when the request arrived."""

    method: str
    path: str
    status: int | None
    at: float


class _Fault:
    def __init__(self, kind: str, times: int, path_prefix: str, method: str):
        self.kind = kind
        self.remaining = times
        self.path_prefix = path_prefix
        self.method = method


def closed_port_url() -> str:
    """"http://127.0.0.1:<port>" for a port that was free a moment ago (nothing listens)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FaultProxy:
    """A running proxy to `upstream_base_url`, listening at `base_url` until close().

    Use as a context manager. `hang_seconds` (default 3.0) is how long a
    "timeout" fault holds the connection; close() cuts such holds short.
    """

    def __init__(self, upstream_base_url: str, *, upstream_timeout: float = 30.0):
        parts = urlsplit(upstream_base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream_base_url!r}")
        self.upstream_base_url = upstream_base_url
        self.upstream_timeout = upstream_timeout
        self.hang_seconds = 3.0
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self._upstream_netloc = parts.netloc
        self._upstream_path = parts.path.rstrip("/")
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._generation = 0  # bumped by clear(), so in-flight requests do not write back
        self._forwarded = 0
        self._closing = threading.Event()
        self._closed = False
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()

    # -- fault plan and records -------------------------------------------------

    def fail_next(self, kind: str, times: int = 1, path_prefix: str = "/v1/payment_intents",
                  method: str = "POST") -> None:
        """Make the next `times` requests with this method and a path starting with
        `path_prefix` fail as `kind`. Faults queued earlier are used first; requests
        matching no queued fault are forwarded and consume nothing."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._lock:
            self._faults.append(_Fault(kind, times, path_prefix, method.upper()))

    def clear(self) -> None:
        """Forget queued faults, recorded requests and the forwarded count."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._generation += 1
            self._forwarded = 0

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def forwarded(self) -> int:
        """How many requests the upstream answered (faults that forward included)."""
        with self._lock:
            return self._forwarded

    @property
    def pending_faults(self) -> int:
        """How many fault applications are still queued."""
        with self._lock:
            return sum(fault.remaining for fault in self._faults)

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Stop serving, end held connections, wait for handlers; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self._server.shutdown()
        self._server.cut_connections()
        self._server.server_close()  # joins the handler threads
        self._thread.join()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- used by the handler -------------------------------------------------------

    def _arrive(self, method: str, path: str) -> tuple[tuple[int, int], str | None]:
        """Record the request; return its record key and the fault kind it takes (or None)."""
        with self._lock:
            key = (self._generation, len(self._requests))
            self._requests.append(RecordedRequest(method, path, None, time.monotonic()))
            for fault in self._faults:
                if fault.method == method and path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return key, fault.kind
            return key, None

    def _set_status(self, key: tuple[int, int], status: int) -> None:
        generation, index = key
        with self._lock:
            if generation == self._generation:  # else clear() ran meanwhile
                self._requests[index] = self._requests[index]._replace(status=status)

    def _forward(self, method: str, target: str, headers: list[tuple[str, str]],
                 body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request upstream and read the whole answer (raises OSError/HTTPException)."""
        conn = http.client.HTTPConnection(
            self._upstream_host, self._upstream_port, timeout=self.upstream_timeout)
        try:
            conn.putrequest(method, self._upstream_path + target,
                            skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.putheader("Host", self._upstream_netloc)
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            with self._lock:
                self._forwarded += 1
            return response.status, response.reason, response.getheaders(), data
        finally:
            conn.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins the handler threads
    block_on_close = True
    proxy: FaultProxy

    def __init__(self, *args, **kwargs):
        self._active: set[socket.socket] = set()
        self._active_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._active_lock:
            self._active.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._active_lock:
            self._active.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Shut down every open client socket so handlers blocked on it return."""
        with self._active_lock:
            for request in self._active:
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):
        pass  # a broken client connection is routine here; never print or crash


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10.0  # a client that never sends its request cannot hold the proxy
    server: _Server

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        self.close_connection = True
        proxy = self.server.proxy
        target = self.path
        path = urlsplit(target).path
        key, kind = proxy._arrive(self.command, path)
        try:
            body = self._read_body()
        except (OSError, ValueError):
            return
        if kind == "rate_limited":
            self._send_json(key, 429, _RATE_LIMITED)
            return
        if kind == "server_error":
            self._send_json(key, 500, _SERVER_ERROR)
            return
        if kind == "timeout":
            proxy._closing.wait(proxy.hang_seconds)
            return  # the connection closes with no response
        headers = self._headers_to_forward()
        try:
            status, reason, up_headers, data = proxy._forward(self.command, target, headers, body)
        except (OSError, http.client.HTTPException):
            self._send_json(key, 502, _BAD_GATEWAY)
            return
        if kind == "lost_response":
            self._send_json(key, 500, _LOST_RESPONSE)
            return
        if kind == "drop_after_forward":
            return
        proxy._set_status(key, status)
        with contextlib.suppress(OSError):
            self.send_response_only(status, reason)
            for name, value in up_headers:
                if name.lower() not in _NOT_RELAYED:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)  # CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _headers_to_forward(self) -> list[tuple[str, str]]:
        named_in_connection = {
            token.strip().lower()
            for value in self.headers.get_all("Connection", [])
            for token in value.split(",")
        }
        return [
            (name, value) for name, value in self.headers.items()
            if name.lower() not in _NOT_RELAYED and name.lower() not in named_in_connection
        ]

    def _send_json(self, key: tuple[int, int], status: int, payload: dict) -> None:
        self.server.proxy._set_status(key, status)
        data = json.dumps(payload).encode()
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
