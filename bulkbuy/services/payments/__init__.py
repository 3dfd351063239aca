"""Payments: what households owe and pay, by cash or card, and what goes back.

Modules by job:
- `cash`: cash taken and handed back, and write-offs;
- `overview`: the round's payments page (what each household paid, how);
- `saved_cards`: saving a card with Stripe, and consent to charge it;
- `attempts`: writing a card attempt, and what an answer does to it (shared);
- `charge_sweep`: the sweep's steps to charge saved cards;
- `recovery`: attempts whose answer was lost, looked up before any retry;
- `refunds`: queueing refunds, cancelling a closed round, the refund sweep's steps;
- `pay_now`: residents paying on our page;
- `stripe_events`: Stripe's webhook events;
- `reconcile`: our records against Stripe's, read-only;
- `throttle`: pacing requests to Stripe.

Every state change of a statement, a card attempt or a refund is a move of
`bulkbuy.domain.payment_states`. None of these commits: the sweep's steps are
committed one by one by the job layer (`bulkbuy.payment_sweep`); paying on our
page and the webhook are given `transactions.commit_now`.
"""
