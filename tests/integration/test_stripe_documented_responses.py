"""Where localstripe differs from real Stripe: the app against Stripe's documented answers.

localstripe answers an off-session charge of a card that needs
authentication with a PaymentIntent in `requires_action`, sends declines
without the PaymentIntent, and ignores idempotency keys. Real Stripe answers
HTTP 402 `card_error` with code `authentication_required` and the
PaymentIntent in the error, and replays the first answer for a repeated
Idempotency-Key (the same status and body; a different body under the same
key is a 400 `idempotency_error`). These tests run the real SDK and the real
payment sweep against `FakeStripe`, a tiny standard-library HTTP server on
127.0.0.1 started here that answers with those documented shapes.

Households and cards are made against localstripe first (as usual); then
STRIPE_API_BASE is pointed at the fake for the charge.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, CardPayment, OutboxMessage, utcnow
from bulkbuy.services.payments import attempts
from bulkbuy.services.payments import saved_cards as cards
from tests.stripe_helpers import closed_card_round

_IDEMPOTENCY_ERROR = json.dumps({"error": {
    "type": "idempotency_error",
    "message": "Keys for idempotent requests can only be used with the same parameters "
               "they were first used with."}}).encode()


class FakeStripe:
    """A FAKE Stripe API (tests only): a stdlib HTTP server on 127.0.0.1, a free port.

    POST /v1/payment_intents: the answer for a new Idempotency-Key comes from
    `answer(params)` (default: a succeeded PaymentIntent), is stored under
    the key and replayed, byte for byte with the same status, for every
    repeat of the key with the same parameters (header
    `Idempotent-Replayed: true`; a 500 too, as Stripe documents); a repeat
    with other parameters gets 400
    `idempotency_error`, as Stripe documents. `lose_answers` makes the next
    N new requests act (the PaymentIntent is made and stored) and then close
    the connection without an answer.
    GET /v1/payment_intents: `listed` (default empty, as if the PaymentIntent
    were beyond the latest ones the app's look-up reads, so recovery must rely
    on the key), newest first, paged by `limit` and `starting_after` as Stripe
    pages. GET /v1/payment_intents/<id>: one made here, as it is now (tests may
    change its status). Everything else: 404 `resource_missing`.
    """

    def __init__(self):
        self.answer = self.succeeded
        self.lose_answers = 0
        #: (method, path, Idempotency-Key) of every request, in order.
        self.requests: list[tuple[str, str, str | None]] = []
        #: PaymentIntents made (one per new key that made one).
        self.created: list[dict] = []
        #: What GET /v1/payment_intents lists, newest first.
        self.listed: list[dict] = []
        self._by_key: dict[str, tuple[dict, int, bytes]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- answers shaped as Stripe documents them ------------------------------------------

    def payment_intent(self, params: dict, status: str, error: dict | None = None) -> dict:
        pi = {
            "id": f"pi_fake{len(self.created) + 1}", "object": "payment_intent",
            "amount": int(params["amount"]), "amount_received":
                int(params["amount"]) if status == "succeeded" else 0,
            "currency": params["currency"], "customer": params.get("customer"),
            "payment_method": params.get("payment_method"), "status": status,
            "confirmation_method": "automatic", "capture_method": "automatic",
            "client_secret": f"pi_fake{len(self.created) + 1}_secret_{secrets.token_hex(8)}",
            "created": int(time.time()), "livemode": False,
            "last_payment_error": error, "metadata": params["metadata"],
        }
        self.created.append(pi)
        return pi

    def succeeded(self, params: dict) -> tuple[int, dict]:
        return 200, self.payment_intent(params, "succeeded")

    def authentication_required(self, params: dict) -> tuple[int, dict]:
        error = {"type": "card_error", "code": "authentication_required",
                 "decline_code": "authentication_required",
                 "message": "Your card was declined. This transaction requires authentication.",
                 "doc_url": "https://stripe.com/docs/error-codes/authentication-required"}
        pi = self.payment_intent(params, "requires_payment_method", error)
        return 402, {"error": {**error, "payment_intent": pi}}

    def insufficient_funds(self, params: dict) -> tuple[int, dict]:
        error = {"type": "card_error", "code": "card_declined",
                 "decline_code": "insufficient_funds",
                 "message": "Your card has insufficient funds."}
        pi = self.payment_intent(params, "requires_payment_method", error)
        return 402, {"error": {**error, "payment_intent": pi}}

    def server_error(self, params: dict) -> tuple[int, dict]:
        """HTTP 500 with no PaymentIntent made; Stripe keeps it for the key, like any answer."""
        return 500, {"error": {"type": "api_error",
                               "message": "An unknown error occurred (fake)."}}

    # -- used by the handler -----------------------------------------------------------------

    def create(self, key: str | None, params: dict) -> tuple[int, bytes, dict, bool]:
        """(status, body, extra headers, lose the answer) for POST /v1/payment_intents."""
        with self._lock:
            if key in self._by_key:
                first_params, status, body = self._by_key[key]
                if first_params != params:
                    return 400, _IDEMPOTENCY_ERROR, {}, False
                return status, body, {"Idempotent-Replayed": "true"}, False
            status, payload = self.answer(params)
            body = json.dumps(payload).encode()
            if key:
                self._by_key[key] = (params, status, body)
            lose = self.lose_answers > 0
            if lose:
                self.lose_answers -= 1
            return status, body, {}, lose


def _form(body: bytes) -> dict:
    """Stripe's form encoding (metadata[round_id]=3) as a dict with a `metadata` dict."""
    params: dict = {"metadata": {}}
    for name, values in parse_qs(body.decode(), keep_blank_values=True).items():
        if name.startswith("metadata[") and name.endswith("]"):
            params["metadata"][name[len("metadata["):-1]] = values[-1]
        else:
            params[name] = values[-1]
    return params


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_fake{secrets.token_hex(6)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        fake = self.server.fake
        path = urlsplit(self.path).path
        fake.requests.append(("GET", path, None))
        if path == "/v1/payment_intents":
            query = parse_qs(urlsplit(self.path).query)
            limit = int(query.get("limit", ["10"])[0])
            after = query.get("starting_after", [None])[0]
            ids = [pi["id"] for pi in fake.listed]
            start = ids.index(after) + 1 if after in ids else 0
            page = fake.listed[start:start + limit]
            self._send(200, json.dumps({
                "object": "list", "data": page, "url": "/v1/payment_intents",
                "has_more": start + limit < len(fake.listed)}).encode())
            return
        made = {pi["id"]: pi for pi in fake.created}
        pi_id = path.removeprefix("/v1/payment_intents/")
        if pi_id in made:
            self._send(200, json.dumps(made[pi_id]).encode())
            return
        self._missing()

    def do_POST(self):
        fake = self.server.fake
        path = urlsplit(self.path).path
        key = self.headers.get("Idempotency-Key")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake.requests.append(("POST", path, key))
        if path != "/v1/payment_intents":
            self._missing()
            return
        status, payload, headers, lose = fake.create(key, _form(body))
        if lose:
            self.close_connection = True  # Stripe acted; the answer never arrives
            return
        self._send(status, payload, headers)

    def _missing(self):
        self._send(404, json.dumps({"error": {
            "type": "invalid_request_error", "code": "resource_missing",
            "message": f"No such path: {self.path}"}}).encode())


@pytest.fixture
def fake_stripe():
    fake = FakeStripe()
    yield fake
    fake.close()


def one_card_round_on_the_fake(app, fake: FakeStripe):
    """A closed round (£10.00 owed, card saved with localstripe), then Stripe is the fake."""
    w, (statement,) = closed_card_round(residents=1, units=12)
    app.config["STRIPE_API_BASE"] = fake.url
    return w, statement


def sweep(app, now):
    return sweeps.sweep_payments(now, config=app.config)


def attempts_of(statement) -> list[CardPayment]:
    return list(db.session.scalars(select(CardPayment).where(
        CardPayment.statement_id == statement.id).order_by(CardPayment.attempt)))


# --- 402 card errors carrying the PaymentIntent -------------------------------------------------


def test_authentication_required_makes_the_statement_need_the_resident(card_app, fake_stripe):
    w, statement = one_card_round_on_the_fake(card_app, fake_stripe)
    fake_stripe.answer = fake_stripe.authentication_required

    result = sweep(card_app, utcnow())

    assert (result.charged, result.needs_action, result.unknown) == (0, 1, 0)
    db.session.expire_all()
    assert (statement.payment_status, statement.needs_action_reason, statement.paid_pence) == (
        "needs_action", "authentication", 0)
    [attempt] = attempts_of(statement)
    assert (attempt.status, attempt.payment_intent_id, attempt.error_code) == (
        "requires_action", "pi_fake1", "authentication_required")
    told = db.session.scalars(select(OutboxMessage.key).where(
        OutboxMessage.key.startswith(f"payment-needs-action:{statement.id}:"))).all()
    assert told == [f"payment-needs-action:{statement.id}:authentication:{w.residents[0].id}"]
    # Sent once, with our metadata, to the fake (not localstripe).
    assert [r for r in fake_stripe.requests if r[0] == "POST"] == [
        ("POST", "/v1/payment_intents", attempt.idempotency_key)]
    assert fake_stripe.created[0]["metadata"] == {
        k: str(v) for k, v in attempt.metadata_for_stripe.items()}


def test_a_decline_records_the_payment_intent_stripe_names_and_its_decline_code(
        card_app, fake_stripe):
    w, statement = one_card_round_on_the_fake(card_app, fake_stripe)
    fake_stripe.answer = fake_stripe.insufficient_funds

    sweep(card_app, utcnow())

    db.session.expire_all()
    assert (statement.payment_status, statement.needs_action_reason) == (
        "needs_action", "declined")
    [attempt] = attempts_of(statement)
    assert (attempt.status, attempt.payment_intent_id, attempt.error_code) == (
        "declined", "pi_fake1", "insufficient_funds")
    # A definite answer: the sweep does not charge the card again by itself.
    later = sweep(card_app, utcnow() + timedelta(hours=1))
    assert (later.charged, later.looked_up) == (0, 0)
    assert len(fake_stripe.created) == 1


# --- idempotency keys replayed --------------------------------------------------------------------


def test_an_attempt_retried_after_a_lost_answer_with_the_same_key_is_paid_once(
        card_app, fake_stripe):
    w, statement = one_card_round_on_the_fake(card_app, fake_stripe)
    fake_stripe.lose_answers = 1
    now = utcnow()

    first = sweep(card_app, now)

    assert (first.charged, first.unknown) == (0, 1)
    [attempt] = attempts_of(statement)
    assert (attempt.status, attempt.payment_intent_id) == ("unknown", None)
    assert statement.payment_status == "charging"
    assert len(fake_stripe.created) == 1  # Stripe did take it

    second = sweep(card_app, now + attempts.RECHECK_AFTER + timedelta(seconds=1))

    assert (second.looked_up, second.charged) == (1, 1)
    db.session.expire_all()
    assert [(a.attempt, a.status, a.payment_intent_id, a.credited_pence)
            for a in attempts_of(statement)] == [(1, "succeeded", "pi_fake1", 1000)]
    assert (statement.payment_status, statement.paid_pence) == ("paid", 1000)
    posts = [r for r in fake_stripe.requests if r[0] == "POST"]
    assert posts == [("POST", "/v1/payment_intents", attempt.idempotency_key)] * 2
    assert len(fake_stripe.created) == 1
    paid = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "card.paid")).all()
    assert len(paid) == 1

    third = sweep(card_app, now + timedelta(hours=1))
    assert (third.charged, third.looked_up) == (0, 0)
    assert len([r for r in fake_stripe.requests if r[0] == "POST"]) == 2


def test_an_authentication_answer_lost_and_replayed_still_needs_the_resident(
        card_app, fake_stripe):
    """Stripe replays a stored error too: the retried attempt ends needs-action, once."""
    w, statement = one_card_round_on_the_fake(card_app, fake_stripe)
    fake_stripe.answer = fake_stripe.authentication_required
    fake_stripe.lose_answers = 1
    now = utcnow()

    sweep(card_app, now)
    sweep(card_app, now + attempts.RECHECK_AFTER + timedelta(seconds=1))

    db.session.expire_all()
    assert [(a.attempt, a.status, a.payment_intent_id) for a in attempts_of(statement)] == [
        (1, "requires_action", "pi_fake1")]
    assert (statement.payment_status, statement.needs_action_reason) == (
        "needs_action", "authentication")
    assert len(fake_stripe.created) == 1


def test_a_key_reused_with_other_parameters_is_an_unknown_outcome_not_a_decline(fake_stripe):
    config = {"STRIPE_SECRET_KEY": "sk_test_fake", "STRIPE_API_BASE": fake_stripe.url,
              "STRIPE_TIMEOUT": 5.0}
    charge = dict(customer_id="cus_fake", payment_method_id="pm_fake",
                  idempotency_key="bulkbuy-charge-r1-h1-a1",
                  metadata={"round_id": 1, "household_id": 1, "attempt": 1,
                            "attempt_key": "bulkbuy-charge-r1-h1-a1"})

    first = gateway.charge_off_session(config, amount_pence=1000, **charge)
    same = gateway.charge_off_session(config, amount_pence=1000, **charge)
    other = gateway.charge_off_session(config, amount_pence=1200, **charge)

    assert (first.kind, first.payment_intent_id) == ("succeeded", "pi_fake1")
    assert (same.kind, same.payment_intent_id) == ("succeeded", "pi_fake1")
    assert (other.kind, other.http_status) == ("unknown", 400)
    assert "sk_test_fake" not in (other.message or "")
    assert len(fake_stripe.created) == 1


# --- a 500 is replayed for its key --------------------------------------------------------------


def test_after_a_500_stripe_replays_for_its_key_the_next_attempt_pays_once(
        card_app, fake_stripe):
    """Stripe stores a 500 under its Idempotency-Key and replays it for 24 hours. Once the
    look-up shows no PaymentIntent was made, the statement is charged with the next
    attempt and a key of its own, instead of being stuck "being charged" (which also
    blocks cash) while the same key gets the same 500."""
    w, statement = one_card_round_on_the_fake(card_app, fake_stripe)
    fake_stripe.answer = fake_stripe.server_error
    now = utcnow()

    first = sweep(card_app, now)

    assert (first.charged, first.unknown) == (0, 1)
    [attempt] = attempts_of(statement)
    assert (attempt.status, attempt.answered_5xx) == ("unknown", True)
    card = cards.card_of(statement.household_id)
    replay = gateway.charge_off_session(  # what sending that key again would get
        card_app.config, customer_id=card.customer_id, payment_method_id=card.payment_method_id,
        amount_pence=attempt.amount_pence, idempotency_key=attempt.idempotency_key,
        metadata=attempt.metadata_for_stripe)
    assert (replay.kind, replay.http_status) == ("unknown", 500)
    fake_stripe.answer = fake_stripe.succeeded

    later = sweep(card_app, now + timedelta(minutes=10))
    # One empty look-up is not enough to give the key up: looked up again minutes later.
    assert (later.looked_up, later.charged, later.unknown) == (1, 0, 1)
    last = sweep(card_app, now + timedelta(minutes=20))

    assert (last.looked_up, last.charged) == (1, 1)
    db.session.expire_all()
    assert (statement.payment_status, statement.paid_pence) == ("paid", 1000)
    first_try, second_try = attempts_of(statement)
    assert (first_try.status, first_try.credited_pence) == ("canceled", 0)
    assert (second_try.attempt, second_try.status, second_try.payment_intent_id) == (
        2, "succeeded", "pi_fake1")
    posts = [key for method, _path, key in fake_stripe.requests if method == "POST"]
    assert posts == [first_try.idempotency_key, first_try.idempotency_key,
                     second_try.idempotency_key]
    assert len(fake_stripe.created) == 1


# --- an attempt Stripe named, and looking far enough back ---------------------------------------


def processing(fake: FakeStripe):
    """A PaymentIntent Stripe is still processing (its outcome comes later)."""
    return lambda params: (200, fake.payment_intent(params, "processing"))


def test_an_attempt_whose_payment_intent_stripe_named_is_fetched_by_id_never_given_up(
        card_app, fake_stripe):
    """Stripe answered with a PaymentIntent still processing: its id is recorded, and the
    attempt is looked up by that id until it ends. Even marked as answered 5xx it is never
    given up for a new key: Stripe has it, and a new key could charge twice."""
    w, statement = one_card_round_on_the_fake(card_app, fake_stripe)
    fake_stripe.answer = processing(fake_stripe)
    now = utcnow()
    first = sweep(card_app, now)
    [attempt] = attempts_of(statement)
    assert (first.unknown, attempt.status, attempt.payment_intent_id) == (
        1, "unknown", "pi_fake1")
    attempt.answered_5xx = True  # the guard is on the id, whatever the marker
    db.session.commit()

    for minutes in (10, 20, 40):
        assert sweep(card_app, now + timedelta(minutes=minutes)).looked_up == 1
    fake_stripe.created[0]["status"] = "succeeded"
    fake_stripe.created[0]["amount_received"] = fake_stripe.created[0]["amount"]
    assert sweep(card_app, now + timedelta(minutes=90)).looked_up == 1

    db.session.expire_all()
    assert [(a.attempt, a.status) for a in attempts_of(statement)] == [(1, "succeeded")]
    assert (statement.payment_status, statement.paid_pence) == ("paid", 1000)
    gets = {path for method, path, _key in fake_stripe.requests if method == "GET"}
    assert gets == {"/v1/payment_intents/pi_fake1"}
    assert len([r for r in fake_stripe.requests if r[0] == "POST"]) == 1


def _listed_pi(number: int, created: int, metadata: dict) -> dict:
    return {"id": f"pi_listed{number}", "object": "payment_intent", "amount": 1000,
            "amount_received": 1000, "currency": "gbp", "status": "succeeded",
            "created": created, "livemode": False, "metadata": metadata,
            "customer": "cus_fake", "payment_method": "pm_fake", "last_payment_error": None}


ATTEMPT = {"round_id": "7", "household_id": "3", "attempt": "1",
           "attempt_key": "bulkbuy-charge-r7-h3-a1-abc123"}


def _config(fake: FakeStripe) -> dict:
    return {"STRIPE_SECRET_KEY": "sk_test_fake", "STRIPE_API_BASE": fake.url,
            "STRIPE_TIMEOUT": 5.0}


def test_a_look_up_reads_on_past_the_usual_window_until_it_reaches_the_attempts_time(
        fake_stripe, monkeypatch):
    monkeypatch.setattr(gateway, "LOOKUP_LIMIT", 3)
    start = int(time.time()) - 1000
    others = [_listed_pi(n, start + 100 - n, {"round_id": "9", "household_id": str(n),
                                              "attempt": "1"}) for n in range(1, 6)]
    ours = _listed_pi(6, start + 50, ATTEMPT)
    older = _listed_pi(7, start - 100, {})
    fake_stripe.listed = [*others, ours, older]
    since = datetime.fromtimestamp(start, UTC)

    found = gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT,
                                        since=since)
    window_only = gateway.find_payment_intent(_config(fake_stripe),
                                              idempotency_metadata=ATTEMPT)

    assert found is not None and found.id == "pi_listed6"
    assert window_only is None  # the old way: the latest 3 only


def test_a_look_up_that_cannot_reach_back_to_the_attempt_says_so_instead_of_none(
        fake_stripe, monkeypatch):
    monkeypatch.setattr(gateway, "LOOKUP_LIMIT", 2)
    monkeypatch.setattr(gateway, "LOOKUP_HARD_LIMIT", 4)
    now = int(time.time())
    fake_stripe.listed = [_listed_pi(n, now - n, {"round_id": "9", "household_id": str(n),
                                                   "attempt": "1"}) for n in range(1, 8)]

    with pytest.raises(gateway.GatewayError, match="could not read far enough back"):
        gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT,
                                    since=datetime.fromtimestamp(now - 60, UTC))


@pytest.mark.parametrize(("metadata", "ours"), [
    ({k: v for k, v in ATTEMPT.items() if k != "attempt_key"}, True),  # an older version's
    (ATTEMPT, True),
    ({**ATTEMPT, "attempt_key": "bulkbuy-charge-r7-h3-a1-0ther"}, False),  # another database
    ({**ATTEMPT, "attempt": "2"}, False),
])
def test_a_look_up_matches_the_three_ids_and_the_key_when_one_is_carried(
        fake_stripe, metadata, ours):
    fake_stripe.listed = [_listed_pi(1, int(time.time()), metadata)]

    found = gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT)

    assert (found is not None) == ours


def test_a_payment_intent_without_a_key_made_before_the_attempt_is_not_taken_for_it(
        fake_stripe):
    """A restored copy or an older version sharing the account repeats the three ids; one
    without an attempt_key made before the attempt started cannot be it (it would mark a
    statement paid that no card paid)."""
    now = int(time.time())
    keyless = {k: v for k, v in ATTEMPT.items() if k != "attempt_key"}
    fake_stripe.listed = [_listed_pi(1, now - 86_400, keyless)]
    since = datetime.fromtimestamp(now - 600, UTC)

    assert gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT,
                                       since=since) is None
    fake_stripe.listed = [_listed_pi(2, now - 60, keyless)]  # made after: it may be ours
    found = gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT,
                                        since=since)
    assert found is not None and found.id == "pi_listed2"


def test_a_list_in_oldest_first_order_is_read_to_its_end(fake_stripe, monkeypatch):
    """localstripe lists oldest first: an old PaymentIntent first says nothing about what
    comes after, so the look-up reads on past LOOKUP_LIMIT to the end."""
    monkeypatch.setattr(gateway, "LOOKUP_LIMIT", 3)
    now = int(time.time())
    older = [_listed_pi(n, now - 5000 + n, {"round_id": "9", "household_id": str(n),
                                            "attempt": "1"}) for n in range(1, 6)]
    fake_stripe.listed = [*older, _listed_pi(6, now, ATTEMPT)]
    since = datetime.fromtimestamp(now - 600, UTC)

    found = gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT,
                                        since=since)

    assert found is not None and found.id == "pi_listed6"
    fake_stripe.listed = older
    assert gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT,
                                       since=since) is None
    monkeypatch.setattr(gateway, "LOOKUP_HARD_LIMIT", 4)  # too many to read: not "None"
    with pytest.raises(gateway.GatewayError, match="could not read far enough back"):
        gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT,
                                    since=since)


def test_a_long_look_up_keeps_to_the_rate_limit_page_by_page(fake_stripe):
    """Each page after the first waits for the caller's throttle (`pace`): 250
    PaymentIntents are three pages, so two waits."""
    now = int(time.time())
    fake_stripe.listed = [_listed_pi(n, now - n, {"round_id": "9", "household_id": str(n),
                                                   "attempt": "1"}) for n in range(1, 251)]
    waits = []

    found = gateway.find_payment_intent(_config(fake_stripe), idempotency_metadata=ATTEMPT,
                                        pace=lambda: waits.append(1))

    assert found is None and len(waits) == 2
    pages = [path for method, path, _key in fake_stripe.requests if method == "GET"]
    assert pages == ["/v1/payment_intents"] * 3
