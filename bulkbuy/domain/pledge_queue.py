"""A household's pledge for one product as queue lines, and how a change reshapes them.

Raising a pledge appends one line at the back of the queue for the added
units. Lowering it trims the household's newest lines first, so earlier
units keep their place in the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class QueueLine:
    """One stored line of a household's pledge for a product."""

    line_id: Any
    queue_pos: int
    quantity: int
    tolerance: int


@dataclass(frozen=True)
class PledgeChange:
    """What to write to turn a household's lines into the new pledge.

    ``append``: (quantity, tolerance) for one new line at the back of the
    queue, or None. ``updates``: line_id -> (new quantity, new tolerance).
    ``deletes``: line ids whose quantity and tolerance both reach 0.
    """

    append: tuple[int, int] | None = None
    updates: dict[Any, tuple[int, int]] = field(default_factory=dict)
    deletes: tuple[Any, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the change writes nothing."""
        return self.append is None and not self.updates and not self.deletes


def check_count(name: str, value: object) -> int:
    """`value`, when it is a whole number of at least 0 (not a bool); else TypeError or
    ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} cannot be negative (got {value})")
    return value


def _check_lines(lines: Iterable[QueueLine]) -> list[QueueLine]:
    """Validate lines and return them newest first (highest queue position first)."""
    lines = list(lines)
    for line in lines:
        check_count("queue_pos", line.queue_pos)
        check_count("quantity", line.quantity)
        check_count("tolerance", line.tolerance)
    if len({line.line_id for line in lines}) != len(lines):
        raise ValueError("two lines have the same line_id")
    if len({line.queue_pos for line in lines}) != len(lines):
        raise ValueError("two lines have the same queue position")
    return sorted(lines, key=lambda line: line.queue_pos, reverse=True)


def totals(lines: Iterable[QueueLine]) -> tuple[int, int]:
    """Return (total quantity, total tolerance) over ``lines``."""
    quantity = tolerance = 0
    for line in lines:
        quantity += line.quantity
        tolerance += line.tolerance
    return quantity, tolerance


def _trim_newest_first(amount: int, have: list[int]) -> list[int]:
    """Take ``amount`` away from ``have`` (newest first); return what is left of each."""
    left = []
    for value in have:
        take = min(value, amount)
        left.append(value - take)
        amount -= take
    return left


def plan_pledge_change(
    lines: Sequence[QueueLine], new_quantity: int, new_tolerance: int
) -> PledgeChange:
    """Plan the writes that make a household's pledge total ``new_quantity`` / ``new_tolerance``.

    Promises: a raise (of quantity, tolerance or both) appends ONE new line
    carrying only the added quantity and added tolerance; a lowering trims
    quantity, and separately tolerance, from the newest lines first, so an
    earlier line never loses units while a later one still has them; lines
    left at 0/0 are deleted, not updated; untouched lines are not written;
    no change gives an empty PledgeChange. Surviving lines keep their queue
    positions. Raises ValueError on negative numbers or duplicate lines.
    """
    check_count("new_quantity", new_quantity)
    check_count("new_tolerance", new_tolerance)
    newest_first = _check_lines(lines)
    have_q, have_t = totals(newest_first)

    added_q = max(0, new_quantity - have_q)
    added_t = max(0, new_tolerance - have_t)
    append = (added_q, added_t) if added_q or added_t else None

    left_q = _trim_newest_first(max(0, have_q - new_quantity), [x.quantity for x in newest_first])
    left_t = _trim_newest_first(max(0, have_t - new_tolerance), [x.tolerance for x in newest_first])
    updates: dict[Any, tuple[int, int]] = {}
    deletes: list[Any] = []
    for line, q, t in zip(reversed(newest_first), reversed(left_q), reversed(left_t), strict=True):
        if (q, t) == (line.quantity, line.tolerance):
            continue
        if q == 0 and t == 0:
            deletes.append(line.line_id)
        else:
            updates[line.line_id] = (q, t)
    return PledgeChange(append=append, updates=updates, deletes=tuple(deletes))


def apply_pledge_change(
    lines: Iterable[QueueLine], change: PledgeChange, new_line_id: Any, new_queue_pos: int
) -> list[QueueLine]:
    """Return the lines after ``change``, in queue order, as the database would hold them.

    The appended line (if any) gets ``new_line_id`` and ``new_queue_pos``,
    which must come after every existing line. For tests and in-memory
    previews; services write the change to the database instead.
    """
    result: list[QueueLine] = []
    deleted = set(change.deletes)
    for line in sorted(lines, key=lambda line: line.queue_pos):
        if line.line_id in deleted:
            continue
        if line.line_id in change.updates:
            quantity, tolerance = change.updates[line.line_id]
            line = replace(line, quantity=quantity, tolerance=tolerance)
        result.append(line)
    if change.append is not None:
        if result and new_queue_pos <= result[-1].queue_pos:
            raise ValueError("the new line must come after every existing line")
        quantity, tolerance = change.append
        result.append(QueueLine(new_line_id, new_queue_pos, quantity, tolerance))
    return result
