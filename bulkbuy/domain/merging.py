"""Two households becoming one: how their pledges in open rounds combine.

The rule: every pledge line of both households becomes a line of the kept household,
each with its own queue position, quantity and tolerance unchanged. So for each
product the combined quantity is the sum of the two households' quantities (and the
combined tolerance the sum of their tolerances), and every unit keeps its place in
the queue: the merged household's early units stay early, its late ones stay late,
and nobody else's units move ahead or behind (in a first-come round nobody else gets
more or less). The per-household limit on units applies to what a person types; a
merge keeps what both households already asked for, even above it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from bulkbuy.domain.pledge_queue import check_count


@dataclass(frozen=True)
class Line:
    """One stored pledge line of a household: for `product`, at `queue_pos`."""

    line_id: Any
    product: Hashable
    queue_pos: int
    quantity: int
    tolerance: int


@dataclass(frozen=True)
class MergedLine:
    """A line of the kept household after the merge; `moved` when it was the merged
    household's."""

    line_id: Any
    product: Hashable
    queue_pos: int
    quantity: int
    tolerance: int
    moved: bool


@dataclass(frozen=True)
class ProductRow:
    """One product in a merge preview: (quantity, tolerance) of each household and of
    the result."""

    product: Hashable
    kept: tuple[int, int]
    merged: tuple[int, int]
    combined: tuple[int, int]


def _checked(lines: Iterable[Line]) -> list[Line]:
    lines = list(lines)
    for line in lines:
        check_count("queue_pos", line.queue_pos)
        check_count("quantity", line.quantity)
        check_count("tolerance", line.tolerance)
    return lines


def merge_pledges(kept_lines: Iterable[Line], merged_lines: Iterable[Line]) -> list[MergedLine]:
    """The kept household's lines after the merge (see the module's rule), ordered by
    queue position: every input line once, unchanged but for `moved`.

    Promises: per product, the result's quantity and tolerance are the sums of both
    households'; each line keeps its queue position; the result does not depend on the
    order of the input lines; nothing is negative. Raises ValueError on negative
    numbers, on a line id or a queue position used twice (queue positions are unique
    across households), and TypeError on numbers that are not whole.
    """
    kept = _checked(kept_lines)
    merged = _checked(merged_lines)
    every = kept + merged
    if len({line.line_id for line in every}) != len(every):
        raise ValueError("two lines have the same line_id")
    if len({line.queue_pos for line in every}) != len(every):
        raise ValueError("two lines have the same queue position")
    result = [MergedLine(line.line_id, line.product, line.queue_pos, line.quantity,
                         line.tolerance, moved=False) for line in kept]
    result += [MergedLine(line.line_id, line.product, line.queue_pos, line.quantity,
                          line.tolerance, moved=True) for line in merged]
    return sorted(result, key=lambda line: line.queue_pos)


def _totals(lines: Iterable[Line | MergedLine]) -> dict[Hashable, tuple[int, int]]:
    totals: dict[Hashable, tuple[int, int]] = {}
    for line in lines:
        quantity, tolerance = totals.get(line.product, (0, 0))
        totals[line.product] = (quantity + line.quantity, tolerance + line.tolerance)
    return totals


def preview(kept_lines: Iterable[Line], merged_lines: Iterable[Line]) -> list[ProductRow]:
    """Per product either household pledged for: both households' (quantity, tolerance)
    and the combined result of merge_pledges, ordered by the product's earliest queue
    position (the same order whatever the order of the input)."""
    kept = _checked(kept_lines)
    merged = _checked(merged_lines)
    combined = merge_pledges(kept, merged)
    kept_totals, merged_totals = _totals(kept), _totals(merged)
    first: dict[Hashable, int] = {}
    for line in combined:
        first.setdefault(line.product, line.queue_pos)
    after = _totals(combined)
    return [ProductRow(product, kept_totals.get(product, (0, 0)),
                       merged_totals.get(product, (0, 0)), after[product])
            for product in sorted(first, key=first.__getitem__)]
