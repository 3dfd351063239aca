"""The fault proxy (tests/fault_proxy.py, a fake for tests) against a tiny echo upstream."""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.fault_proxy import FaultProxy, closed_port_url

CHARGE = "/v1/payment_intents"


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers 200 with the request as JSON, plus a Request-Id header."""

    def _echo(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.count_request()
        data = json.dumps({
            "method": self.command,
            "path": self.path,
            "body": body.decode(),
            "headers": {name.lower(): value for name, value in self.headers.items()},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Request-Id", "req_echo")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _echo

    def log_message(self, format, *args):
        pass


class _Upstream(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self._lock = threading.Lock()
        self._count = 0
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"

    def count_request(self):
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


@pytest.fixture
def upstream():
    server = _Upstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def proxy(upstream):
    with FaultProxy(upstream.base_url) as running:
        yield running


def call(base_url, method, path, body=None, headers=None, timeout=2.0):
    """(status, headers dict with lower-case names, body bytes) of one request."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def test_forwards_get_with_query_and_relays_headers(proxy, upstream):
    status, headers, data = call(proxy.base_url, "GET", "/v1/customers?limit=3&email=a%40b.c",
                                 headers={"Authorization": "Bearer sk_test_x"})

    assert status == 200
    echoed = json.loads(data)
    assert echoed["method"] == "GET"
    assert echoed["path"] == "/v1/customers?limit=3&email=a%40b.c"
    assert echoed["headers"]["authorization"] == "Bearer sk_test_x"
    assert echoed["headers"]["host"] == urlsplit(upstream.base_url).netloc
    assert headers["request-id"] == "req_echo"
    assert headers["content-length"] == str(len(data))
    assert headers["connection"] == "close"
    assert proxy.forwarded == 1 and upstream.count == 1
    [(method, path, sent, _at)] = proxy.requests
    assert (method, path, sent) == ("GET", "/v1/customers", 200)


def test_forwards_post_body_and_drops_hop_by_hop_headers(proxy, upstream):
    status, _headers, data = call(
        proxy.base_url, "POST", CHARGE + "?expand[]=latest_charge", body=b"amount=500&currency=gbp",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": "k1",
                 "Keep-Alive": "timeout=5", "Connection": "keep-alive, X-Private",
                 "X-Private": "secret"})

    assert status == 200
    echoed = json.loads(data)
    assert echoed["method"] == "POST"
    assert echoed["path"] == CHARGE + "?expand[]=latest_charge"
    assert echoed["body"] == "amount=500&currency=gbp"
    assert echoed["headers"]["idempotency-key"] == "k1"
    assert echoed["headers"]["content-length"] == "23"
    assert "keep-alive" not in echoed["headers"]
    assert "x-private" not in echoed["headers"]


def test_forwards_delete_and_chunked_request_body(proxy, upstream):
    assert call(proxy.base_url, "DELETE", "/_config/data")[0] == 200

    parts = urlsplit(proxy.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2.0)
    try:
        conn.request("POST", "/v1/customers", body=iter([b"name=", b"Ann"]), encode_chunked=True)
        echoed = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert echoed["body"] == "name=Ann"
    assert upstream.count == 2


def test_rate_limited_answers_429_without_forwarding(proxy, upstream):
    proxy.fail_next("rate_limited")

    status, headers, data = call(proxy.base_url, "POST", CHARGE, body=b"amount=1")

    assert status == 429
    assert headers["content-type"] == "application/json"
    assert json.loads(data) == {"error": {
        "type": "rate_limit_error", "code": "rate_limit",
        "message": "Too many requests (fault proxy)"}}
    assert upstream.count == 0 and proxy.forwarded == 0
    assert proxy.requests[0][:3] == ("POST", CHARGE, 429)


def test_server_error_answers_500_without_forwarding(proxy, upstream):
    proxy.fail_next("server_error")

    status, _headers, data = call(proxy.base_url, "POST", CHARGE + "/pi_1/confirm")

    assert status == 500
    assert json.loads(data)["error"] == {
        "type": "api_error", "message": "Internal error (fault proxy)"}
    assert upstream.count == 0


def test_lost_response_forwards_but_answers_500(proxy, upstream):
    proxy.fail_next("lost_response")

    status, _headers, data = call(proxy.base_url, "POST", CHARGE, body=b"amount=1")

    assert status == 500
    assert json.loads(data)["error"]["message"] == "Response lost (fault proxy)"
    assert upstream.count == 1 and proxy.forwarded == 1


def test_drop_after_forward_forwards_then_closes_without_response(proxy, upstream):
    proxy.fail_next("drop_after_forward")

    with pytest.raises(http.client.RemoteDisconnected):
        call(proxy.base_url, "POST", CHARGE, body=b"amount=1")

    assert upstream.count == 1 and proxy.forwarded == 1
    assert proxy.requests[0].status is None


def test_timeout_holds_the_connection_without_forwarding(proxy, upstream):
    proxy.hang_seconds = 1.0
    proxy.fail_next("timeout")

    with pytest.raises(TimeoutError):  # not RemoteDisconnected: the proxy still held it
        call(proxy.base_url, "POST", CHARGE, body=b"amount=1", timeout=0.5)

    assert upstream.count == 0
    assert proxy.requests[0].status is None


def test_timeout_closes_without_response_after_hang_seconds(proxy, upstream):
    proxy.hang_seconds = 0.2
    proxy.fail_next("timeout")

    with pytest.raises(http.client.RemoteDisconnected):
        call(proxy.base_url, "POST", CHARGE, timeout=2.0)
    assert upstream.count == 0


def test_close_cuts_a_held_connection_short(upstream):
    proxy = FaultProxy(upstream.base_url)
    try:
        proxy.hang_seconds = 30.0
        proxy.fail_next("timeout")
        with pytest.raises(TimeoutError):
            call(proxy.base_url, "POST", CHARGE, timeout=0.2)

        started = time.monotonic()
        proxy.close()
        proxy.close()
        assert time.monotonic() - started < 1.0
    finally:
        proxy.close()


def test_times_applies_to_that_many_requests_then_forwards(proxy, upstream):
    proxy.fail_next("rate_limited", times=2)

    statuses = [call(proxy.base_url, "POST", CHARGE)[0] for _ in range(3)]

    assert statuses == [429, 429, 200]
    assert upstream.count == 1
    assert [sent for _method, _path, sent, _at in proxy.requests] == [429, 429, 200]


def test_faults_apply_in_the_order_queued(proxy, upstream):
    proxy.fail_next("server_error")
    proxy.fail_next("rate_limited")

    statuses = [call(proxy.base_url, "POST", CHARGE)[0] for _ in range(3)]

    assert statuses == [500, 429, 200]


def test_non_matching_requests_pass_and_do_not_consume_faults(proxy, upstream):
    proxy.fail_next("server_error")

    assert call(proxy.base_url, "POST", "/v1/customers")[0] == 200
    assert call(proxy.base_url, "GET", CHARGE + "/pi_1")[0] == 200
    assert proxy.pending_faults == 1
    assert call(proxy.base_url, "POST", CHARGE + "/pi_1/confirm")[0] == 500
    assert proxy.pending_faults == 0


def test_clear_forgets_faults_and_records(proxy, upstream):
    proxy.fail_next("server_error")
    call(proxy.base_url, "GET", "/v1/customers")

    proxy.clear()

    assert proxy.requests == [] and proxy.forwarded == 0 and proxy.pending_faults == 0
    assert call(proxy.base_url, "POST", CHARGE)[0] == 200


def test_records_arrival_times_in_order(proxy, upstream):
    before = time.monotonic()
    for _ in range(3):
        call(proxy.base_url, "POST", CHARGE)

    times = [at for _method, _path, _sent, at in proxy.requests]
    assert before <= times[0] <= times[1] <= times[2] <= time.monotonic()


def test_unknown_kind_and_bad_times_are_refused(proxy):
    with pytest.raises(ValueError, match="unknown fault kind"):
        proxy.fail_next("unreachable")
    with pytest.raises(ValueError, match="times"):
        proxy.fail_next("timeout", times=0)


def test_unreachable_upstream_answers_502():
    with FaultProxy(closed_port_url()) as proxy:
        status, _headers, data = call(proxy.base_url, "GET", "/v1/customers")

    assert status == 502
    assert json.loads(data)["error"]["type"] == "api_error"
    assert proxy.forwarded == 0


def test_closed_port_url_refuses_connections():
    with pytest.raises(ConnectionRefusedError):
        call(closed_port_url(), "GET", "/")
