"""Stripe behind a small, plain-Python interface. The only module that imports `stripe`.

Settings (a Flask config, any mapping, or an object with attributes):
STRIPE_SECRET_KEY (required for any call), STRIPE_API_BASE (optional; points
the SDK at localstripe in development and tests), STRIPE_TIMEOUT (optional,
seconds per HTTP request, default 30).

Promises made by every function here:
- Each call builds its own `stripe.StripeClient` from the settings passed in
  and closes its HTTP session before returning. Nothing is read from or
  written to the SDK's module-level settings (`stripe.api_key`,
  `stripe.api_base`), so two apps in one process never share a key or base.
- The SDK never retries on its own (`max_network_retries=0`): one call is at
  most one HTTP request, and retrying is the caller's decision.
- Money crosses this boundary as integer pence only; `to_stripe_amount` and
  `from_stripe_amount` are the one place where pence become Stripe amounts
  and back.
- The secret key never appears in anything this module raises, returns or
  logs. SDK errors are turned into `GatewayError` (or a `ChargeOutcome`) whose
  text is scrubbed of anything that looks like a Stripe key, raised with no
  chained exception (`__cause__` and `__context__` are both None).
- Only the currency "gbp" is used.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import requests
import stripe

log = logging.getLogger(__name__)
# At DEBUG the SDK logs response bodies, which hold client secrets: never that low.
logging.getLogger("stripe").setLevel(logging.INFO)

CURRENCY = "gbp"
#: Stripe's smallest charge in GBP; smaller statements are paid in cash or waived.
MINIMUM_CHARGE_PENCE = 30
#: Metadata every PaymentIntent we make carries; a charge is found again by these.
IDEMPOTENCY_METADATA_KEYS = ("round_id", "household_id", "attempt", "attempt_key")
#: What marks a PaymentIntent as one of ours: those made before attempt_key was added
#: carry only these three, and are matched by them alone.
ATTEMPT_METADATA_KEYS = ("round_id", "household_id", "attempt")
#: `find_payment_intent` looks through at least this many of the latest PaymentIntents,
LOOKUP_LIMIT = 500
#: and, to reach back to the attempt's own time, at most this many, for at most this long
#: (well inside the sweep's lease on the attempt: services.payments.attempts.LEASE).
LOOKUP_HARD_LIMIT = 20_000
LOOKUP_SECONDS = 60.0
#: PaymentIntents asked for a page while looking through them (Stripe's most).
PAGE_SIZE = 100
DEFAULT_TIMEOUT_SECONDS = 30.0

CHARGE_KINDS = frozenset({"succeeded", "requires_action", "declined", "unknown"})

_KEY_PATTERN = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9_*]+")

T = TypeVar("T")


class GatewayError(Exception):
    """Stripe refused a request, or could not be reached. The text never holds a key.

    `code` is Stripe's error code when there is one (e.g. "resource_missing"),
    `kind` the SDK error class name (e.g. "InvalidRequestError"), `http_status`
    the answer's status (None when no answer came: Stripe unreachable or slow).
    """

    def __init__(self, message: str, *, code: str | None = None, kind: str | None = None,
                 http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.http_status = http_status

    @property
    def outcome_unknown(self) -> bool:
        """True when Stripe may have acted on the request: no answer, 429 or 5xx."""
        return self.http_status is None or self.http_status == 429 or self.http_status >= 500


@dataclass(frozen=True)
class SetupIntentInfo:
    id: str
    client_secret: str
    status: str


@dataclass(frozen=True)
class ChargeOutcome:
    """What became of one off-session charge attempt.

    kind:
    - "succeeded": Stripe took the money (`payment_intent_id` is set).
    - "requires_action": the card needs the resident (SCA); send them to our
      payment page. `payment_intent_id` is set when Stripe said which one.
    - "declined": definitely not charged; the attempt number may rise.
    - "unknown": the request may or may not have reached Stripe (network
      error, timeout, 429, 5xx, idempotency conflict). Look the attempt up with
      `find_payment_intent` before any retry.
    """

    kind: str
    payment_intent_id: str | None = None
    error_code: str | None = None
    message: str | None = None
    #: The HTTP status of a failed request (429 means: slow down).
    http_status: int | None = None

    @property
    def rate_limited(self) -> bool:
        return self.http_status == 429

    def __post_init__(self):
        if self.kind not in CHARGE_KINDS:
            raise ValueError(f"unknown charge outcome kind {self.kind!r}")


@dataclass(frozen=True)
class PaymentIntentInfo:
    id: str
    status: str
    amount_pence: int
    currency: str
    customer_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    created: int | None = None


@dataclass(frozen=True)
class RefundInfo:
    id: str
    status: str | None
    amount_pence: int
    payment_intent_id: str | None
    #: The idempotency key the refund was made with (kept as its metadata).
    refund_key: str | None = None


# --- settings -----------------------------------------------------------------------------


def _setting(config, name: str, default=None):
    if isinstance(config, Mapping):
        return config.get(name, default)
    return getattr(config, name, default)


def is_configured(config) -> bool:
    """True when a Stripe secret key is set; without one the app is cash only."""
    key = _setting(config, "STRIPE_SECRET_KEY")
    return isinstance(key, str) and bool(key.strip())


# --- money --------------------------------------------------------------------------------


def _whole_non_negative(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a whole number of pence (int), not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


def to_stripe_amount(pence: int) -> int:
    """Pence (int >= 0) as Stripe's GBP `amount` (minor units: the same number).

    Raises TypeError for floats, Decimals, strings and bools; ValueError for negatives.
    """
    return _whole_non_negative(pence, "amount")


def from_stripe_amount(amount: int) -> int:
    """Stripe's GBP `amount` as pence. Same refusals as `to_stripe_amount`."""
    return _whole_non_negative(amount, "Stripe amount")


# --- calling Stripe -----------------------------------------------------------------------


def _scrub(text: str, config) -> str:
    key = _setting(config, "STRIPE_SECRET_KEY")
    if isinstance(key, str) and key:
        text = text.replace(key, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def _describe(exc: stripe.StripeError, config) -> str:
    # user_message is Stripe's own text without the "Request req_...:" prefix.
    text = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return _scrub(f"{type(exc).__name__}: {text}", config)


def _call(config, what: str, request: Callable[[stripe.StripeClient], T]) -> T:
    """Run `request` with a fresh client; SDK errors become a key-free GatewayError."""
    key = _setting(config, "STRIPE_SECRET_KEY")
    if not isinstance(key, str) or not key.strip():
        raise GatewayError(f"{what}: Stripe is not configured (no STRIPE_SECRET_KEY)")
    failure: GatewayError | None = None
    session = requests.Session()
    try:
        client = _client(config, key, session)
        try:
            return request(client)
        except stripe.StripeError as exc:
            failure = GatewayError(f"{what} failed: {_describe(exc, config)}",
                                   code=exc.code, kind=type(exc).__name__,
                                   http_status=exc.http_status)
    finally:
        session.close()
    # Raised outside the except block so no SDK exception (with its request
    # headers and body) is chained to it.
    log.warning("stripe: %s", failure)
    raise failure


def request_timeout(config) -> float:
    """Seconds a request to Stripe may take before it counts as unanswered."""
    return float(_setting(config, "STRIPE_TIMEOUT", None) or DEFAULT_TIMEOUT_SECONDS)


def _client(config, key: str, session: requests.Session) -> stripe.StripeClient:
    base = _setting(config, "STRIPE_API_BASE")
    timeout = request_timeout(config)
    return stripe.StripeClient(
        key,
        base_addresses={"api": base} if base else None,
        http_client=stripe.RequestsClient(timeout=timeout, session=session),
        max_network_retries=0,
    )


def _metadata(obj) -> dict[str, str]:
    meta = getattr(obj, "metadata", None)
    if meta is None:
        return {}
    return {str(k): str(v) for k, v in meta.to_dict().items()}


def _payment_intent_info(pi) -> PaymentIntentInfo:
    customer = pi.customer
    if customer is not None and not isinstance(customer, str):
        customer = customer.id  # expanded
    return PaymentIntentInfo(
        id=pi.id, status=pi.status, amount_pence=from_stripe_amount(pi.amount),
        currency=pi.currency, customer_id=customer, metadata=_metadata(pi),
        created=getattr(pi, "created", None),
    )


def _check_idempotency_metadata(metadata: Mapping) -> dict[str, str]:
    missing = [k for k in IDEMPOTENCY_METADATA_KEYS if metadata.get(k) in (None, "")]
    if missing:
        raise ValueError(f"metadata must include {', '.join(missing)}")
    return {str(k): str(v) for k, v in metadata.items()}


# --- operations ---------------------------------------------------------------------------


def create_customer(config, email: str | None, name: str | None, household_id: int) -> str:
    """Create a Stripe Customer for a household and return its id ("cus_...").

    The household id is stored as metadata `household_id`. Raises GatewayError.
    """
    params: dict[str, Any] = {"metadata": {"household_id": str(household_id)}}
    if email:
        params["email"] = email
    if name:
        params["name"] = name
    customer = _call(config, "create customer",
                     lambda c: c.v1.customers.create(params=params))
    return customer.id


def create_setup_intent(config, customer_id: str) -> SetupIntentInfo:
    """Start saving a card for later off-session charges (`usage="off_session"`).

    The client secret goes to Stripe.js on our page; it is not a key, but do
    not log it. Raises GatewayError.
    """
    params = {"customer": customer_id, "usage": "off_session",
              "payment_method_types": ["card"]}
    intent = _call(config, "create SetupIntent",
                   lambda c: c.v1.setup_intents.create(params=params))
    return SetupIntentInfo(id=intent.id, client_secret=intent.client_secret,
                           status=intent.status)


def charge_off_session(
    config, *, customer_id: str, payment_method_id: str, amount_pence: int,
    idempotency_key: str, metadata: Mapping[str, Any], off_session: bool = True,
) -> ChargeOutcome:
    """Charge a saved card now, without the resident present, in GBP.

    With `off_session=False` the resident is present (our payment page), so
    a card that needs authentication answers "requires_action" and the page
    completes it with Stripe.js.

    `amount_pence` must be an int of at least MINIMUM_CHARGE_PENCE (else
    TypeError/ValueError, before any request). `metadata` must hold
    round_id, household_id and attempt; values are sent as strings.
    `idempotency_key` is sent as Stripe's Idempotency-Key (real Stripe
    replays the original result for a repeat; localstripe ignores it).

    Returns a ChargeOutcome for every answer about the card or the network
    (see ChargeOutcome.kind). Raises GatewayError only when Stripe rejected
    the request itself (bad parameters, bad key, unknown customer): then
    nothing was charged.
    """
    amount = to_stripe_amount(amount_pence)
    if amount < MINIMUM_CHARGE_PENCE:
        raise ValueError(f"{amount_pence}p is below Stripe's minimum charge of "
                         f"{MINIMUM_CHARGE_PENCE}p")
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise ValueError("an idempotency key is required")
    params = {
        "amount": amount, "currency": CURRENCY, "customer": customer_id,
        "payment_method": payment_method_id, "off_session": off_session, "confirm": True,
        "metadata": _check_idempotency_metadata(metadata),
    }
    def create(client: stripe.StripeClient) -> ChargeOutcome:
        try:
            pi = client.v1.payment_intents.create(
                params=params, options={"idempotency_key": idempotency_key})
        except stripe.CardError as exc:
            return _card_error_outcome(exc, config)
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError,
                stripe.IdempotencyError) as exc:
            return ChargeOutcome("unknown", None, exc.code, _describe(exc, config),
                                 exc.http_status)
        except stripe.StripeError as exc:
            if (exc.http_status or 0) >= 500 or exc.http_status == 429:
                return ChargeOutcome("unknown", None, exc.code, _describe(exc, config),
                                     exc.http_status)
            raise
        return _status_outcome(pi)

    result = _call(config, "off-session charge", create)
    if result.kind != "succeeded":
        log.info("stripe: off-session charge %s: %s (pi=%s, code=%s)",
                 result.kind, result.message, result.payment_intent_id, result.error_code)
    return result


def _card_error_outcome(exc: stripe.CardError, config) -> ChargeOutcome:
    error = exc.error
    pi = getattr(error, "payment_intent", None) if error is not None else None
    pi_id = pi.id if pi is not None and not isinstance(pi, str) else pi
    decline_code = getattr(error, "decline_code", None) if error is not None else None
    if exc.code == "authentication_required":
        return ChargeOutcome("requires_action", pi_id, exc.code, _describe(exc, config))
    return ChargeOutcome("declined", pi_id, decline_code or exc.code, _describe(exc, config))


def _status_outcome(pi) -> ChargeOutcome:
    status = pi.status
    if status == "succeeded":
        return ChargeOutcome("succeeded", pi.id)
    if status == "requires_action":
        return ChargeOutcome("requires_action", pi.id, "authentication_required",
                             "The card needs the resident to authenticate.")
    if status in ("requires_payment_method", "canceled"):
        error = getattr(pi, "last_payment_error", None)
        code = getattr(error, "decline_code", None) or getattr(error, "code", None)
        message = getattr(error, "message", None) or f"PaymentIntent is {status}"
        return ChargeOutcome("declined", pi.id, code, message)
    # "processing" and anything new: the webhook will tell; look it up before retrying.
    return ChargeOutcome("unknown", pi.id, None, f"PaymentIntent is {status}")


def find_payment_intent(config, *, idempotency_metadata: Mapping[str, Any],
                        since: datetime | None = None,
                        pace: Callable[[], None] | None = None,
                        seconds: float = LOOKUP_SECONDS) -> PaymentIntentInfo | None:
    """Find the PaymentIntent of one charge attempt by its metadata, or None.

    For an attempt whose outcome is unknown (timeout, crash after Stripe
    accepted). Matches round_id, household_id and attempt, and attempt_key (the
    idempotency key) when the PaymentIntent carries one; compared as strings.
    Reads at least the latest LOOKUP_LIMIT PaymentIntents of the account. Given
    `since` (the attempt's start, less a margin for clocks): one without an
    attempt_key made before then is not this attempt's, and None is answered
    only once the list has been read back past `since` (Stripe lists newest
    first; a list not seen to be in that order, as localstripe's oldest-first
    one or one made within a second, is read to its end). When that is more
    than LOOKUP_HARD_LIMIT PaymentIntents or takes longer than `seconds`,
    it raises GatewayError rather than answer None.
    When several match (localstripe ignores idempotency keys, so a retry can
    duplicate), a succeeded one wins, then the newest; a warning is logged
    because that is a double charge to refund. `pace` is called before each page
    after the first (the caller's rate limit). Raises GatewayError.
    """
    wanted = {k: str(idempotency_metadata[k]) for k in IDEMPOTENCY_METADATA_KEYS
              if idempotency_metadata.get(k) not in (None, "")}
    if len(wanted) != len(IDEMPOTENCY_METADATA_KEYS):
        raise ValueError(f"idempotency_metadata must include "
                         f"{', '.join(IDEMPOTENCY_METADATA_KEYS)}")
    since_ts = since.timestamp() if since is not None else None
    give_up_at = time.monotonic() + seconds

    def search(client: stripe.StripeClient) -> tuple[list[PaymentIntentInfo], bool]:
        found = []
        # Newest first only once seen going down and never up (a list all made in one
        # second says nothing, and localstripe's goes up).
        went_down = went_up = False
        previous = None
        page = client.v1.payment_intents.list(params={"limit": PAGE_SIZE})
        for seen, pi in enumerate(page.auto_paging_iter(), start=1):
            if pace is not None and seen % PAGE_SIZE == 0:
                pace()  # the SDK asks for the next page after this item
            created = getattr(pi, "created", None) or 0
            meta = _metadata(pi)
            if meta_names_attempt(meta, wanted) and not (
                    since_ts is not None and not meta.get("attempt_key")
                    and created < since_ts):
                found.append(_payment_intent_info(pi))
            if previous is not None:
                went_up = went_up or created > previous
                went_down = went_down or created < previous
            previous = created
            read_back = since_ts is None or (went_down and not went_up
                                             and created < since_ts)
            if seen >= LOOKUP_LIMIT and read_back:
                return found, True
            if seen >= LOOKUP_HARD_LIMIT or time.monotonic() > give_up_at:
                return found, False
        return found, True  # the whole account was read

    matches, complete = _call(config, "find PaymentIntent", search)
    if not matches:
        if not complete:
            raise GatewayError("could not read far enough back among the PaymentIntents "
                               "to be sure this attempt is not there; looking again later")
        return None
    if len(matches) > 1:
        log.warning("stripe: %d PaymentIntents carry metadata %s: %s", len(matches), wanted,
                    ", ".join(m.id for m in matches))
    return max(matches, key=lambda m: (m.status == "succeeded", m.created or 0))


def meta_names_attempt(meta: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """True when a PaymentIntent's metadata names the attempt `wanted` (its
    IDEMPOTENCY_METADATA_KEYS as strings): the same round, household and attempt
    number, and the same attempt_key unless the PaymentIntent carries none."""
    if any(meta.get(k) != wanted[k] for k in ATTEMPT_METADATA_KEYS):
        return False
    return meta.get("attempt_key") in (None, "", wanted["attempt_key"])


def refund(config, payment_intent_id: str, amount_pence: int, idempotency_key: str
           ) -> RefundInfo:
    """Refund `amount_pence` (int > 0) of a PaymentIntent; partial refunds allowed.

    Does not check the amount against what was paid (localstripe accepts
    over-refunds): the caller caps it from our own records. Raises GatewayError.
    """
    amount = to_stripe_amount(amount_pence)
    if amount == 0:
        raise ValueError("a refund must be of at least 1p")
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise ValueError("an idempotency key is required")
    params = {"payment_intent": payment_intent_id, "amount": amount,
              "metadata": {"refund_key": idempotency_key}}
    result = _call(config, "refund", lambda c: c.v1.refunds.create(
        params=params, options={"idempotency_key": idempotency_key}))
    return _refund_info(result)


def _refund_info(result) -> RefundInfo:
    return RefundInfo(id=result.id, status=result.status,
                      amount_pence=from_stripe_amount(result.amount),
                      payment_intent_id=result.payment_intent,
                      refund_key=_metadata(result).get("refund_key"))


def refunds_of(config, payment_intent_id: str) -> list[RefundInfo]:
    """Every refund Stripe holds of one PaymentIntent, read to the end of the list.
    Raises GatewayError."""
    def collect(client: stripe.StripeClient) -> list[RefundInfo]:
        page = client.v1.refunds.list(params={"payment_intent": payment_intent_id,
                                              "limit": 100})
        return [_refund_info(item) for item in page.auto_paging_iter()]

    return _call(config, "list refunds of a PaymentIntent", collect)


def find_refund(config, payment_intent_id: str, idempotency_key: str) -> RefundInfo | None:
    """The refund of a PaymentIntent made with this idempotency key, or None when Stripe
    has none (it reads all the PaymentIntent's refunds, so None is sure).

    For a refund whose answer was lost: `refund` stores the key as metadata
    `refund_key`. Should Stripe hold two with the key (a peer that ignored the key),
    the first is answered and a warning logged: reconcile-payments reports it.
    Raises GatewayError.
    """
    found = [info for info in refunds_of(config, payment_intent_id)
             if info.refund_key == idempotency_key]
    if len(found) > 1:
        log.warning("stripe: %d refunds carry refund_key %s: %s", len(found), idempotency_key,
                    ", ".join(info.id for info in found))
    return found[0] if found else None


def retrieve_payment_intent(config, payment_intent_id: str) -> PaymentIntentInfo:
    """Stripe's current view of one PaymentIntent. Raises GatewayError."""
    pi = _call(config, "retrieve PaymentIntent",
               lambda c: c.v1.payment_intents.retrieve(payment_intent_id))
    return _payment_intent_info(pi)


def payment_intent_client_secret(config, payment_intent_id: str) -> str:
    """The client secret Stripe.js needs to complete a PaymentIntent on our page.

    Not a key, but it lets the holder finish this one payment: never log it.
    """
    pi = _call(config, "retrieve PaymentIntent",
               lambda c: c.v1.payment_intents.retrieve(payment_intent_id))
    return pi.client_secret


def list_payment_intents(config, limit: int = LOOKUP_LIMIT) -> list[PaymentIntentInfo]:
    """The latest `limit` PaymentIntents of the account, newest first. Raises GatewayError."""
    def collect(client: stripe.StripeClient) -> list[PaymentIntentInfo]:
        found = []
        page = client.v1.payment_intents.list(params={"limit": 100})
        for pi in page.auto_paging_iter():
            found.append(_payment_intent_info(pi))
            if len(found) >= limit:
                break
        return found

    return _call(config, "list PaymentIntents", collect)


def list_refunds(config, limit: int = LOOKUP_LIMIT) -> list[RefundInfo]:
    """The latest `limit` refunds of the account, newest first. Raises GatewayError."""
    def collect(client: stripe.StripeClient) -> list[RefundInfo]:
        found = []
        for item in client.v1.refunds.list(params={"limit": 100}).auto_paging_iter():
            found.append(_refund_info(item))
            if len(found) >= limit:
                break
        return found

    return _call(config, "list refunds", collect)


@dataclass(frozen=True)
class SavedCardInfo:
    """A SetupIntent's outcome: the card it saved, if it succeeded."""

    setup_intent_id: str
    status: str
    customer_id: str | None
    payment_method_id: str | None
    brand: str | None = None
    last4: str | None = None


def retrieve_saved_card(config, setup_intent_id: str) -> SavedCardInfo:
    """What a SetupIntent saved, read from Stripe (never from the browser).

    When it succeeded, its card is attached to the SetupIntent's customer if
    it is not already (localstripe does not attach on confirm; Stripe does),
    so it can be charged off-session. Raises GatewayError.
    """
    def read(client: stripe.StripeClient) -> SavedCardInfo:
        intent = client.v1.setup_intents.retrieve(setup_intent_id)
        pm_id = intent.payment_method
        if pm_id is not None and not isinstance(pm_id, str):
            pm_id = pm_id.id
        customer = intent.customer
        if customer is not None and not isinstance(customer, str):
            customer = customer.id
        brand = last4 = None
        if intent.status == "succeeded" and pm_id:
            pm = client.v1.payment_methods.retrieve(pm_id)
            if customer and not pm.customer:
                pm = client.v1.payment_methods.attach(pm_id, params={"customer": customer})
            card = getattr(pm, "card", None)
            brand = getattr(card, "brand", None)
            last4 = getattr(card, "last4", None)
        return SavedCardInfo(setup_intent_id=intent.id, status=intent.status,
                             customer_id=customer, payment_method_id=pm_id,
                             brand=brand, last4=last4)

    return _call(config, "retrieve SetupIntent", read)


# --- webhooks -----------------------------------------------------------------------------


class WebhookError(Exception):
    """A webhook whose signature or body did not check out (answer 400)."""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    #: The event's object (`data.object`) as plain dicts and lists.
    object: dict[str, Any]
    created: int | None = None


def parse_webhook(payload: bytes, signature_header: str | None, secret: str,
                  tolerance_seconds: int = 300) -> WebhookEvent:
    """Check a webhook's signature on its raw body and return the event.

    Uses `stripe.Webhook.construct_event`: the signature must be made with
    `secret` and be at most `tolerance_seconds` old, nor dated more than that
    ahead (the SDK checks the past only). The event must have an id, a type and
    an object (`data.object`) with an id of its own: nothing is ever matched on
    a missing id. Raises WebhookError.
    """
    if not secret:
        raise WebhookError("no webhook secret is configured")
    if not signature_header:
        raise WebhookError("no Stripe-Signature header")
    failure: WebhookError | None = None
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, secret,
                                               tolerance=tolerance_seconds)
    except stripe.SignatureVerificationError:
        failure = WebhookError("bad or stale signature")
    except ValueError:
        failure = WebhookError("the body is not a Stripe event")
    if failure is not None:
        raise failure
    if _signed_at(signature_header) > time.time() + tolerance_seconds:
        raise WebhookError("signature dated in the future")
    data = event.to_dict()
    obj = (data.get("data") or {}).get("object")
    if not isinstance(obj, dict) or not data.get("id") or not data.get("type"):
        raise WebhookError("the event has no id, type or object")
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        raise WebhookError("the event's object has no id")
    return WebhookEvent(id=str(data["id"]), type=str(data["type"]), object=obj,
                        created=data.get("created"))


def _signed_at(signature_header: str) -> int:
    """The `t=` timestamp of a Stripe-Signature header the SDK has just accepted."""
    for part in signature_header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return 0
