"""Comparing our card records with Stripe's, for `flask reconcile-payments`.

Read-only: it lists every difference and changes nothing (the payment sweep
and webhooks settle what they can; a person decides about the rest).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, CardRefund
from bulkbuy.services import card_payments


@dataclass(frozen=True)
class Difference:
    payment_intent_id: str | None
    what: str


#: At most this many of our PaymentIntents beyond Stripe's list are fetched one by one.
FETCH_LIMIT = 200


def reconcile(config, limit: int = gateway.LOOKUP_LIMIT) -> tuple[int, list[Difference]]:
    """(PaymentIntents compared, differences) between our attempts and Stripe's latest
    `limit` PaymentIntents that carry our metadata, and between our refunds and
    Stripe's latest `limit` refunds of those PaymentIntents. Ours that the list does not
    show (older, or other accounts' PaymentIntents filled it) are fetched by id, up to
    FETCH_LIMIT; any left over are named as not compared. Raises GatewayError."""
    listed = gateway.list_payment_intents(config, limit)
    stripe_side = [pi for pi in listed
                   if all(k in pi.metadata for k in gateway.ATTEMPT_METADATA_KEYS)]
    ours = {p.payment_intent_id: p for p in db.session.scalars(
        select(CardPayment).where(CardPayment.payment_intent_id.is_not(None))
        .order_by(CardPayment.id.desc()))}
    differences: list[Difference] = []
    seen = {pi.id for pi in listed}
    for pi in stripe_side:
        payment = ours.get(pi.id)
        if payment is None:
            payment = card_payments.attempt_named_by(pi.metadata)
            where = (f"our attempt {payment.attempt} for household {payment.household_id}"
                     if payment else "no record of ours")
            differences.append(Difference(pi.id, f"Stripe has it ({pi.status}, "
                                          f"{pi.amount_pence}p); we have {where}"))
            continue
        differences += _compare(pi, payment)
    compared = len(stripe_side)
    unseen = [(pi_id, payment) for pi_id, payment in ours.items() if pi_id not in seen]
    if len(listed) < limit:  # Stripe listed all it has
        differences += [Difference(pi_id, f"we have it ({payment.status}); Stripe does not")
                        for pi_id, payment in unseen]
        unseen = []
    for pi_id, payment in unseen[:FETCH_LIMIT]:
        try:
            pi = gateway.retrieve_payment_intent(config, pi_id)
        except gateway.GatewayError as exc:
            if exc.code == "resource_missing" or exc.http_status == 404:
                differences.append(Difference(pi_id, f"we have it ({payment.status}); "
                                              "Stripe does not"))
            else:
                differences.append(Difference(pi_id, f"could not be checked at Stripe: {exc}"))
            continue
        compared += 1
        differences += _compare(pi, payment)
    if len(unseen) > FETCH_LIMIT:
        differences.append(Difference(None, f"{len(unseen) - FETCH_LIMIT} older card "
                                      "payments of ours were not compared (run again with "
                                      "a larger limit)"))
    for payment in db.session.scalars(select(CardPayment).where(
            CardPayment.status.in_(("pending", "unknown")))):
        differences.append(Difference(payment.payment_intent_id,
                                      f"attempt {payment.attempt} for household "
                                      f"{payment.household_id} has no answer yet "
                                      f"({payment.status})"))
    # Refunds of our PaymentIntents only: another app's on the same account are not ours.
    differences += _refund_differences(config, limit,
                                       set(ours) | {pi.id for pi in stripe_side})
    return compared, differences


def _compare(pi: gateway.PaymentIntentInfo, payment: CardPayment) -> list[Difference]:
    """Where Stripe's PaymentIntent and our attempt disagree (status, amount)."""
    found = []
    expected = card_payments.attempt_status_for(pi.status)
    if expected != payment.status and not (expected == "unknown"
                                           and payment.status in ("pending", "unknown")):
        found.append(Difference(pi.id, f"Stripe says {pi.status}; we say {payment.status} "
                                f"(attempt {payment.attempt}, household "
                                f"{payment.household_id})"))
    if pi.amount_pence != payment.amount_pence:
        found.append(Difference(pi.id, f"Stripe amount {pi.amount_pence}p; ours "
                                f"{payment.amount_pence}p"))
    return found


#: Stripe's refund statuses, as ours (a refund Stripe accepted is ours "succeeded").
_REFUND_STATUS = {"succeeded": "succeeded", "pending": "succeeded",
                  "requires_action": "succeeded", "failed": "failed", "canceled": "failed"}


def _refund_differences(config, limit: int, payment_intent_ids: set[str]) -> list[Difference]:
    """Refunds of our PaymentIntents at Stripe against our CardRefund records (matched by
    the idempotency key each carries as metadata `refund_key`)."""
    stripe_side = gateway.list_refunds(config, limit)
    at_stripe = [r for r in stripe_side if r.payment_intent_id in payment_intent_ids]
    rows = db.session.execute(
        select(CardRefund, CardPayment.payment_intent_id)
        .join(CardPayment, CardRefund.card_payment_id == CardPayment.id)).all()
    ours = {refund.idempotency_key: (refund, pi_id) for refund, pi_id in rows}
    differences: list[Difference] = []
    seen: set[str] = set()
    for info in at_stripe:
        found = ours.get(info.refund_key or "")
        if found is None:
            differences.append(Difference(info.payment_intent_id, (
                f"Stripe refunded {info.amount_pence}p ({info.status}, {info.id}); "
                "we have no record of that refund")))
            continue
        refund, _pi = found
        seen.add(refund.idempotency_key)
        differences += _compare_refund(info, refund)
    complete = len(stripe_side) < limit
    fetched = 0
    for key, (refund, pi_id) in ours.items():
        if refund.status in ("pending", "unknown"):
            differences.append(Difference(pi_id, (
                f"a refund of {refund.amount_pence}p has no answer yet ({refund.status})")))
            continue
        if refund.status != "succeeded" or key in seen:
            continue
        info = None
        if not complete:  # beyond the list: asked of its PaymentIntent
            if fetched >= FETCH_LIMIT:
                differences.append(Difference(pi_id, f"refund {key} was not compared "
                                              "(run again with a larger limit)"))
                continue
            fetched += 1
            try:
                info = gateway.find_refund(config, pi_id, key)
            except gateway.GatewayError as exc:
                differences.append(Difference(pi_id, f"refund {key} could not be checked "
                                              f"at Stripe: {exc}"))
                continue
        if info is None:
            differences.append(Difference(pi_id, (
                f"we have a refund of {refund.amount_pence}p ({refund.status}); "
                "Stripe does not")))
        else:
            differences += _compare_refund(info, refund)
    return differences


def _compare_refund(info: gateway.RefundInfo, refund: CardRefund) -> list[Difference]:
    """Where Stripe's refund and ours disagree (status, amount); none while ours waits for
    an answer (that is listed on its own)."""
    if refund.status in ("pending", "unknown"):
        return []
    found = []
    expected = _REFUND_STATUS.get(info.status or "", "unknown")
    if expected != refund.status:
        found.append(Difference(info.payment_intent_id, (
            f"refund {info.id}: Stripe says {info.status}; we say {refund.status}")))
    if info.amount_pence != refund.amount_pence:
        found.append(Difference(info.payment_intent_id, (
            f"refund {info.id}: Stripe amount {info.amount_pence}p; "
            f"ours {refund.amount_pence}p")))
    return found


