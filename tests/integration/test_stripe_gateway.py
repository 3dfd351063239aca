"""bulkbuy.adapters.stripe_gateway against localstripe, over real HTTP with the official SDK.

What the browser does with Stripe.js (entering a card, confirming the
SetupIntent) is done here with the SDK directly. Cases localstripe cannot
produce are faked by replacing one SDK call with the SDK's own error for
that case; those tests say "fake" in their names.
"""

from __future__ import annotations

import logging
import socket
import traceback
from contextlib import contextmanager
from decimal import Decimal

import pytest
import requests
import stripe

from bulkbuy.adapters import stripe_gateway as gw
from devtools.localstripe_server import free_port

CARD_OK = "4242424242424242"
CARD_SCA_ALWAYS = "4000002760003184"  # needs authentication on every payment
CARD_CHARGE_DECLINED = "4000000000000341"  # saves fine, every charge declined


@contextmanager
def sdk(config):
    """A raw SDK client for what Stripe.js would do in the browser."""
    session = requests.Session()
    try:
        yield stripe.StripeClient(
            config["STRIPE_SECRET_KEY"],
            base_addresses={"api": config["STRIPE_API_BASE"]},
            http_client=stripe.RequestsClient(session=session),
            max_network_retries=0,
        )
    finally:
        session.close()


def save_card(config, number: str = CARD_OK, household_id: int = 7):
    """A customer with a card saved through a SetupIntent: (customer_id, payment_method_id)."""
    customer_id = gw.create_customer(config, "flat12@example.org", "Flat 12", household_id)
    setup = gw.create_setup_intent(config, customer_id)
    with sdk(config) as client:
        pm = client.v1.payment_methods.create(params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        })
        confirmed = client.v1.setup_intents.confirm(setup.id, params={"payment_method": pm.id})
    if number == CARD_OK:
        assert confirmed.status == "succeeded"
    return customer_id, pm.id


def charge(config, customer_id, pm_id, amount_pence=1234, attempt=1, round_id=3,
           household_id=7):
    return gw.charge_off_session(
        config, customer_id=customer_id, payment_method_id=pm_id, amount_pence=amount_pence,
        idempotency_key=f"charge-r{round_id}-h{household_id}-a{attempt}",
        metadata={"round_id": round_id, "household_id": household_id, "attempt": attempt,
                  "attempt_key": f"charge-r{round_id}-h{household_id}-a{attempt}"},
    )


def closed_port_config(key: str) -> dict[str, str]:
    return {"STRIPE_SECRET_KEY": key, "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"}


# --- pence conversion (no server needed) ---------------------------------------------------


@pytest.mark.parametrize("pence", [0, 1, 30, 1234, 99_999_999])
def test_pence_are_stripe_minor_units_both_ways(pence):
    assert gw.to_stripe_amount(pence) == pence
    assert gw.from_stripe_amount(gw.to_stripe_amount(pence)) == pence


@pytest.mark.parametrize("bad", [12.34, 12.0, Decimal("12"), "1234", True, False, None])
def test_conversion_refuses_anything_but_an_int(bad):
    with pytest.raises(TypeError):
        gw.to_stripe_amount(bad)
    with pytest.raises(TypeError):
        gw.from_stripe_amount(bad)


def test_conversion_refuses_negatives():
    with pytest.raises(ValueError):
        gw.to_stripe_amount(-1)
    with pytest.raises(ValueError):
        gw.from_stripe_amount(-1)


def test_is_configured_needs_a_secret_key():
    assert not gw.is_configured({})
    assert not gw.is_configured({"STRIPE_SECRET_KEY": "  "})
    assert gw.is_configured({"STRIPE_SECRET_KEY": "sk_test_x"})

    class Settings:
        STRIPE_SECRET_KEY = "sk_test_x"
    assert gw.is_configured(Settings)


def test_charge_refuses_bad_amounts_before_any_request():
    config = closed_port_config("sk_test_unused")
    for bad, error in [(12.5, TypeError), (-100, ValueError), (29, ValueError), (0, ValueError)]:
        with pytest.raises(error):
            charge(config, "cus_x", "pm_x", amount_pence=bad)


# --- against localstripe -----------------------------------------------------------------


def test_saved_card_is_charged_off_session_for_the_exact_amount_and_metadata(stripe_config):
    customer_id, pm_id = save_card(stripe_config)

    outcome = charge(stripe_config, customer_id, pm_id, amount_pence=1234)

    assert outcome.kind == "succeeded"
    assert outcome.payment_intent_id.startswith("pi_")
    with sdk(stripe_config) as client:
        pi = client.v1.payment_intents.retrieve(outcome.payment_intent_id)
    assert (pi.amount, pi.currency, pi.status) == (1234, "gbp", "succeeded")
    assert pi.customer == customer_id and pi.payment_method == pm_id
    assert pi.metadata.to_dict() == {"round_id": "3", "household_id": "7", "attempt": "1",
                                     "attempt_key": "charge-r3-h7-a1"}


def test_setup_intent_is_for_off_session_use(stripe_config):
    customer_id = gw.create_customer(stripe_config, None, None, household_id=5)
    setup = gw.create_setup_intent(stripe_config, customer_id)
    assert setup.id.startswith("seti_") and setup.client_secret.startswith(setup.id)
    with sdk(stripe_config) as client:
        stored = client.v1.setup_intents.retrieve(setup.id)
        customer = client.v1.customers.retrieve(customer_id)
    assert stored.usage == "off_session" and stored.customer == customer_id
    assert customer.metadata.to_dict() == {"household_id": "5"}


def test_sca_card_off_session_needs_the_resident(stripe_config):
    customer_id, pm_id = save_card(stripe_config, CARD_SCA_ALWAYS)

    outcome = charge(stripe_config, customer_id, pm_id)

    assert outcome.kind == "requires_action"
    assert outcome.payment_intent_id.startswith("pi_")


def test_declined_card_is_declined(stripe_config):
    customer_id, pm_id = save_card(stripe_config, CARD_CHARGE_DECLINED)

    outcome = charge(stripe_config, customer_id, pm_id)

    assert outcome.kind == "declined"
    assert outcome.error_code == "card_declined"


def test_fake_authentication_required_card_error_means_requires_action(
        stripe_config, monkeypatch):
    """Fake: real Stripe raises CardError(code=authentication_required) for an
    off-session SCA card, carrying the PaymentIntent; localstripe cannot."""
    customer_id, pm_id = save_card(stripe_config)

    def fake_create(self, params, options=None):
        raise stripe.CardError(
            "This payment requires authentication.", None, "authentication_required",
            http_status=402,
            json_body={"error": {
                "type": "card_error", "code": "authentication_required",
                "message": "This payment requires authentication.",
                "payment_intent": {"id": "pi_fake123", "object": "payment_intent",
                                   "status": "requires_payment_method"},
            }},
        )
    monkeypatch.setattr(stripe.PaymentIntentService, "create", fake_create)

    outcome = charge(stripe_config, customer_id, pm_id)

    assert outcome == gw.ChargeOutcome(
        "requires_action", "pi_fake123", "authentication_required", outcome.message)
    assert "requires authentication" in outcome.message


FAKE_OVERLOADED = {
    "rate_limit_429": stripe.RateLimitError(
        "Too many requests hit the API too quickly.", http_status=429, code="rate_limit",
        json_body={"error": {"type": "invalid_request_error", "code": "rate_limit",
                             "message": "Too many requests hit the API too quickly."}}),
    "api_error_500": stripe.APIError(
        "An unknown error occurred", http_status=500,
        json_body={"error": {"type": "api_error", "message": "An unknown error occurred"}}),
}


@pytest.mark.parametrize("name", sorted(FAKE_OVERLOADED))
def test_fake_overloaded_stripe_is_unknown(stripe_config, monkeypatch, name):
    """Fake: Stripe's HTTP 429 (RateLimitError) and 500 (APIError), which localstripe never
    sends. Stripe may or may not have charged, so the outcome is "unknown"."""
    customer_id, pm_id = save_card(stripe_config)

    def fake_create(self, params, options=None):
        raise FAKE_OVERLOADED[name]
    monkeypatch.setattr(stripe.PaymentIntentService, "create", fake_create)

    outcome = charge(stripe_config, customer_id, pm_id)

    assert outcome.kind == "unknown" and outcome.payment_intent_id is None
    assert type(FAKE_OVERLOADED[name]).__name__ in outcome.message


def test_charge_that_times_out_is_unknown():
    """A server that accepts the connection and never answers (a real timeout)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        config = {"STRIPE_SECRET_KEY": "sk_test_unused", "STRIPE_TIMEOUT": 0.2,
                  "STRIPE_API_BASE": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        outcome = charge(config, "cus_x", "pm_x")
    assert outcome.kind == "unknown"
    assert "Timeout" in outcome.message


def test_sdk_module_settings_are_left_alone(stripe_config):
    """Each call uses its own client: no key or base is left in the SDK's globals."""
    before = (stripe.api_key, stripe.api_base)
    save_card(stripe_config)
    assert (stripe.api_key, stripe.api_base) == before
    assert stripe.api_key is None


def test_charge_with_network_down_is_unknown_and_leaks_no_key(caplog):
    key = "sk_test_SECRET0123456789abcdef"
    config = closed_port_config(key)
    caplog.set_level(logging.DEBUG)

    outcome = charge(config, "cus_x", "pm_x")

    assert outcome.kind == "unknown"
    assert outcome.payment_intent_id is None
    assert "APIConnectionError" in outcome.message
    assert key not in repr(outcome)
    assert "SECRET0123" not in caplog.text


def test_gateway_error_leaks_no_key_and_chains_nothing(caplog):
    key = "sk_test_SECRET0123456789abcdef"
    caplog.set_level(logging.DEBUG)

    with pytest.raises(gw.GatewayError) as raised:
        gw.create_customer(closed_port_config(key), "a@example.org", "A", 1)

    error = raised.value
    assert error.kind == "APIConnectionError"
    assert error.__cause__ is None and error.__context__ is None
    text = "".join(traceback.format_exception(error))
    assert "SECRET0123" not in text
    assert "SECRET0123" not in caplog.text


def test_rejected_key_is_a_gateway_error_without_the_key(stripe_config):
    config = {**stripe_config, "STRIPE_SECRET_KEY": "not_a_key_SECRET0123"}
    with pytest.raises(gw.GatewayError) as raised:
        gw.create_customer(config, "a@example.org", "A", 1)
    assert raised.value.kind == "AuthenticationError"
    assert "SECRET0123" not in str(raised.value)


def test_unconfigured_gateway_says_so():
    with pytest.raises(gw.GatewayError, match="not configured"):
        gw.create_customer({}, "a@example.org", "A", 1)


def test_charge_found_by_metadata_after_the_process_died(stripe_config):
    """Stripe accepted the charge but we never saw the answer: look it up by metadata."""
    customer_id, pm_id = save_card(stripe_config)
    other_customer, other_pm = save_card(stripe_config, household_id=8)
    charge(stripe_config, other_customer, other_pm, amount_pence=500, household_id=8)
    charge(stripe_config, customer_id, pm_id, amount_pence=700, attempt=1)
    lost = charge(stripe_config, customer_id, pm_id, amount_pence=1999, attempt=2)

    found = gw.find_payment_intent(
        stripe_config, idempotency_metadata={"round_id": 3, "household_id": 7, "attempt": 2,
                                             "attempt_key": "charge-r3-h7-a2"})

    assert found == gw.PaymentIntentInfo(
        id=lost.payment_intent_id, status="succeeded", amount_pence=1999, currency="gbp",
        customer_id=customer_id,
        metadata={"round_id": "3", "household_id": "7", "attempt": "2",
                  "attempt_key": "charge-r3-h7-a2"},
        created=found.created)


def test_no_charge_found_for_an_attempt_that_never_reached_stripe(stripe_config):
    customer_id, pm_id = save_card(stripe_config)
    charge(stripe_config, customer_id, pm_id, attempt=1)

    assert gw.find_payment_intent(
        stripe_config, idempotency_metadata={"round_id": 3, "household_id": 7, "attempt": 2,
                                             "attempt_key": "charge-r3-h7-a2"},
    ) is None
    with pytest.raises(ValueError):
        gw.find_payment_intent(stripe_config, idempotency_metadata={"round_id": 3})


def test_partial_refund(stripe_config):
    customer_id, pm_id = save_card(stripe_config)
    paid = charge(stripe_config, customer_id, pm_id, amount_pence=2500)

    refunded = gw.refund(stripe_config, paid.payment_intent_id, 600,
                         idempotency_key="refund-r3-h7-1")

    assert refunded.id.startswith("re_")
    assert (refunded.amount_pence, refunded.payment_intent_id) == (600, paid.payment_intent_id)
    assert refunded.status == "succeeded"
    with pytest.raises(TypeError):
        gw.refund(stripe_config, paid.payment_intent_id, 6.0, idempotency_key="refund-x")
