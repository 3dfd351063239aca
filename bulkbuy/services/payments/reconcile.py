"""Comparing our card records with Stripe's, for `flask reconcile-payments`.

Read-only: it lists every difference and changes nothing (the payment sweep
and webhooks settle what they can; a person decides about the rest).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain import statuses
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, CardRefund
from bulkbuy.services.payments import attempts


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
    # What each PaymentIntent of ours took: Stripe's word where it is read below.
    taken = {pi_id: payment.amount_pence if payment.status == "succeeded" else 0
             for pi_id, payment in ours.items()}
    taken.update({pi.id: _took(pi) for pi in stripe_side})
    for pi in stripe_side:
        payment = ours.get(pi.id)
        if payment is None:
            payment = attempts.attempt_named_by(pi.metadata)
            if (payment is not None and payment.payment_intent_id is None
                    and not _compare(pi, payment)):
                # An answer without the PaymentIntent's id (localstripe's declines), but
                # the same outcome and amount as ours: nothing differs.
                continue
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
        taken[pi.id] = _took(pi)
        differences += _compare(pi, payment)
    if len(unseen) > FETCH_LIMIT:
        differences.append(Difference(None, f"{len(unseen) - FETCH_LIMIT} older card "
                                      "payments of ours were not compared (run again with "
                                      "a larger limit)"))
    for payment in db.session.scalars(select(CardPayment).where(
            CardPayment.status.in_(statuses.UNANSWERED_ATTEMPTS))):
        differences.append(Difference(payment.payment_intent_id,
                                      f"attempt {payment.attempt} for household "
                                      f"{payment.household_id} has no answer yet "
                                      f"({payment.status})"))
    # Refunds of our PaymentIntents only: another app's on the same account are not ours.
    differences += _refund_differences(config, limit, taken)
    return compared, differences


def _took(pi: gateway.PaymentIntentInfo) -> int:
    """Pence a PaymentIntent took: its amount once it succeeded, else none."""
    return pi.amount_pence if pi.status == "succeeded" else 0


def _compare(pi: gateway.PaymentIntentInfo, payment: CardPayment) -> list[Difference]:
    """Where Stripe's PaymentIntent and our attempt disagree (status, amount)."""
    found = []
    expected = attempts.attempt_status_for(pi.status)
    if expected != payment.status and not (expected == "unknown"
                                           and payment.status in statuses.UNANSWERED_ATTEMPTS):
        found.append(Difference(pi.id, f"Stripe says {pi.status}; we say {payment.status} "
                                f"(attempt {payment.attempt}, household "
                                f"{payment.household_id})"))
    if pi.amount_pence != payment.amount_pence:
        found.append(Difference(pi.id, f"Stripe amount {pi.amount_pence}p; ours "
                                f"{payment.amount_pence}p"))
    return found


#: Stripe's refund statuses for a refund that gave nothing back.
_GONE = ("failed", "canceled")
#: Stripe's refund statuses, as ours (a refund Stripe accepted is ours "succeeded").
_REFUND_STATUS = {"succeeded": "succeeded", "pending": "succeeded",
                  "requires_action": "succeeded", "failed": "failed", "canceled": "failed"}


def _refund_differences(config, limit: int, taken: dict[str, int]) -> list[Difference]:
    """Refunds of our PaymentIntents at Stripe against our CardRefund records (matched by
    the idempotency key each carries as metadata `refund_key`), and, per PaymentIntent,
    all its refunds at Stripe added up against what it took (`taken`: pence by
    PaymentIntent id, Stripe's figure where it was read). Ours beyond Stripe's list are
    asked of their PaymentIntent, up to FETCH_LIMIT PaymentIntents."""
    listed = gateway.list_refunds(config, limit)
    at_stripe = [r for r in listed if r.payment_intent_id in taken]
    rows = db.session.execute(
        select(CardRefund, CardPayment.payment_intent_id)
        .join(CardPayment, CardRefund.card_payment_id == CardPayment.id)
        .order_by(CardRefund.id)).all()
    ours = {refund.idempotency_key: (refund, pi_id) for refund, pi_id in rows}
    differences: list[Difference] = []
    if len(listed) >= limit:  # Stripe did not list them all: ask the rest per PaymentIntent
        listed_keys = {r.refund_key for r in at_stripe}
        beyond = list(dict.fromkeys(
            pi_id for key, (refund, pi_id) in ours.items()
            if refund.status == "succeeded" and key not in listed_keys))
        listed_ids = {r.id for r in at_stripe}
        unchecked: set[str] = set()
        for pi_id in beyond[:FETCH_LIMIT]:
            try:
                at_stripe += [r for r in gateway.refunds_of(config, pi_id)
                              if r.id not in listed_ids]
            except gateway.GatewayError as exc:
                differences.append(Difference(pi_id, f"its refunds could not be checked at "
                                              f"Stripe: {exc}"))
                unchecked.add(pi_id)
        for pi_id in beyond[FETCH_LIMIT:]:
            differences.append(Difference(pi_id, "its refunds were not compared (run again "
                                          "with a larger limit)"))
            unchecked.add(pi_id)
        ours = {key: found for key, found in ours.items() if found[1] not in unchecked}

    by_key: dict[str, list[gateway.RefundInfo]] = defaultdict(list)
    refunded: dict[str, int] = defaultdict(int)
    for info in at_stripe:
        if info.status not in _GONE:
            refunded[info.payment_intent_id] += info.amount_pence
        found = ours.get(info.refund_key or "")
        if found is None:
            differences.append(Difference(info.payment_intent_id, (
                f"Stripe refunded {info.amount_pence}p ({info.status}, {info.id}); "
                "we have no record of that refund")))
            continue
        by_key[info.refund_key].append(info)
        differences += _compare_refund(info, found[0])
    for key, infos in by_key.items():
        if len(infos) > 1:
            differences.append(Difference(infos[0].payment_intent_id, (
                f"Stripe made {len(infos)} refunds ({', '.join(sorted(i.id for i in infos))}) for "
                f"our one refund {key}")))
    for key, (refund, pi_id) in ours.items():
        if refund.status in statuses.UNANSWERED_REFUNDS:
            differences.append(Difference(pi_id, (
                f"a refund of {refund.amount_pence}p has no answer yet ({refund.status})")))
        elif refund.status == "succeeded" and key not in by_key:
            differences.append(Difference(pi_id, (
                f"we have a refund of {refund.amount_pence}p ({refund.status}); "
                "Stripe does not")))
    for pi_id, pence in refunded.items():
        if pence > taken[pi_id]:
            differences.append(Difference(pi_id, (
                f"Stripe refunded {pence}p in all of a payment that took {taken[pi_id]}p")))
    return differences


def _compare_refund(info: gateway.RefundInfo, refund: CardRefund) -> list[Difference]:
    """Where Stripe's refund and ours disagree (status, amount); none while ours waits for
    an answer (that is listed on its own)."""
    if refund.status in statuses.UNANSWERED_REFUNDS:
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


