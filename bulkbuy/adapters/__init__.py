"""Thin adapters to the world outside: e-mail, the scheduler (and later Stripe)."""
