"""Pure domain rules for bulkbuy: money, cases, allocation, pledge queue, progress.

Imports only the standard library. Money is always an ``int`` of pence;
exact intermediate values are ``fractions.Fraction``, never floats.
"""
