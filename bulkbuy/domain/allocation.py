"""Cases to order, who gets which units, and who pays which pennies.

The rules are in docs/domain-rules.md. Everything here is exact
integer arithmetic; results never depend on the order of the input.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bulkbuy.domain.money import split_pence

H = TypeVar("H", bound=Hashable)

FIRST_COME = "first_come"
PRO_RATA = "pro_rata"
ALLOCATION_MODES = (FIRST_COME, PRO_RATA)

FEE_BY_VALUE = "by_value"
FEE_EQUAL = "equal"
FEE_MODES = (FEE_BY_VALUE, FEE_EQUAL)


@dataclass(frozen=True)
class PledgeLine:
    """One line of a household's pledge for one product.

    ``queue_pos`` is a global, increasing sequence number (unique per line);
    ``quantity`` is what the household wants; ``tolerance`` is how many more
    it would take if that completes a case.
    """

    household_id: Any
    queue_pos: int
    quantity: int
    tolerance: int


@dataclass(frozen=True)
class Allocation:
    """The outcome for one product.

    ``cases`` to order; ``units`` per household (every household that
    pledged, 0 where it gets nothing); ``line_units`` per line, keyed by
    queue position; ``tolerance_units`` per household: how many of its
    units came from its tolerance (extra it agreed to take to fill a case).
    ``spare``: units that arrived but nobody gets (only after
    :func:`reallocate`, when more arrived than anybody asked for).
    """

    cases: int
    units: dict[Any, int]
    line_units: dict[int, int] = field(default_factory=dict)
    tolerance_units: dict[Any, int] = field(default_factory=dict)
    spare: int = 0


def _check_count(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum} (got {value})")
    return value


def cases_to_order(
    case_size: int, quantity: int, tolerance: int, max_cases: int | None = None
) -> int:
    """Return how many cases to order for total ``quantity`` and ``tolerance``.

    Promises: ``quantity // case_size`` full cases, plus one more when real
    quantity started it (``r = quantity % case_size > 0``) and tolerance can
    complete it (``r + tolerance >= case_size``). Tolerance never starts a
    case. Capped at ``max_cases`` when given. Raises ValueError on negative
    numbers or a case size below 1.
    """
    _check_count("case_size", case_size, 1)
    _check_count("quantity", quantity)
    _check_count("tolerance", tolerance)
    if max_cases is not None:
        _check_count("max_cases", max_cases)
    cases, started = divmod(quantity, case_size)
    if started > 0 and started + tolerance >= case_size:
        cases += 1
    if max_cases is not None:
        cases = min(cases, max_cases)
    return cases


def _checked_lines(lines: Iterable[PledgeLine]) -> list[PledgeLine]:
    """Validate lines and return them sorted by queue position."""
    ordered = sorted(lines, key=lambda line: _check_count("queue_pos", line.queue_pos))
    for line in ordered:
        _check_count("quantity", line.quantity)
        _check_count("tolerance", line.tolerance)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.queue_pos == after.queue_pos:
            raise ValueError(f"two lines have queue position {after.queue_pos}")
    return ordered


def _hand_out(amount: int, wants: list[int]) -> list[int]:
    """Give each want in turn min(want, what is left)."""
    given = []
    for want in wants:
        take = min(want, amount)
        given.append(take)
        amount -= take
    return given


def allocate(
    case_size: int,
    lines: Iterable[PledgeLine],
    max_cases: int | None = None,
    mode: str = FIRST_COME,
) -> Allocation:
    """Decide how many cases to order and how many units each household gets.

    ``first_come``: quantity in queue order, each line min(its quantity,
    what is left); then tolerance in queue order the same way.
    ``pro_rata``: quantity shared in proportion to each household's
    quantity, then tolerance in proportion to tolerance, both by largest
    remainder with ties to the earlier household position (its earliest
    queue position); each household's units are then laid on its lines in
    queue order, quantity first.

    Promises: units sum to exactly ``cases * case_size``; nobody gets more
    than quantity + tolerance; when ``cases * case_size`` covers the total
    quantity everybody gets at least their quantity; the result does not
    depend on the order of ``lines``. Raises ValueError on two lines with
    the same queue position, negative numbers, a case size below 1 or an
    unknown mode.
    """
    _check_count("case_size", case_size, 1)
    if mode not in ALLOCATION_MODES:
        raise ValueError(f"unknown allocation mode {mode!r}; use one of {ALLOCATION_MODES}")
    ordered = _checked_lines(lines)
    total_q = sum(line.quantity for line in ordered)
    total_t = sum(line.tolerance for line in ordered)
    cases = cases_to_order(case_size, total_q, total_t, max_cases)
    available = cases * case_size

    # Households in position order (earliest queue position first).
    households: list[Any] = list(dict.fromkeys(line.household_id for line in ordered))

    if mode == FIRST_COME:
        q_given = _hand_out(available, [line.quantity for line in ordered])
        t_given = _hand_out(available - sum(q_given), [line.tolerance for line in ordered])
    else:
        q_given, t_given = _pro_rata(ordered, households, available, total_q)

    units = dict.fromkeys(households, 0)
    tolerance_units = dict.fromkeys(households, 0)
    line_units: dict[int, int] = {}
    for line, q, t in zip(ordered, q_given, t_given, strict=True):
        line_units[line.queue_pos] = q + t
        units[line.household_id] += q + t
        tolerance_units[line.household_id] += t
    return Allocation(
        cases=cases, units=units, line_units=line_units, tolerance_units=tolerance_units
    )


def _pro_rata(
    ordered: list[PledgeLine], households: list[Any], available: int, total_q: int
) -> tuple[list[int], list[int]]:
    """Per-line quantity and tolerance units for ``pro_rata`` (lines in queue order)."""
    want_q = dict.fromkeys(households, 0)
    want_t = dict.fromkeys(households, 0)
    for line in ordered:
        want_q[line.household_id] += line.quantity
        want_t[line.household_id] += line.tolerance
    for_quantity = min(available, total_q)
    # split_pence gives the floor of each exact share plus at most one unit,
    # and the exact share never exceeds the household's own want because
    # the amount shared never exceeds the total want: nobody goes over.
    share_q = split_pence(for_quantity, want_q, tie_order=households)
    share_t = split_pence(available - for_quantity, want_t, tie_order=households)

    q_given: list[int] = []
    t_given: list[int] = []
    for line in ordered:
        q = min(line.quantity, share_q[line.household_id])
        share_q[line.household_id] -= q
        q_given.append(q)
    for line in ordered:
        t = min(line.tolerance, share_t[line.household_id])
        share_t[line.household_id] -= t
        t_given.append(t)
    return q_given, t_given


def reallocate(
    lines: Iterable[PledgeLine],
    allocation: Allocation,
    received: int,
    mode: str = FIRST_COME,
) -> Allocation:
    """Share out what arrived on delivery day: ``received`` units of one product.

    ``lines`` and ``allocation`` are the product's pledge lines and what
    :func:`allocate` gave them at close; ``received`` is what can be handed
    over (arrived minus damaged).

    Short (``received`` at most what was allocated): exactly ``received``
    units are given out and nobody gets more than before, per household
    and per line. ``first_come`` takes units back from the latest queue
    positions first, line by line: a later line keeps units only if every
    earlier line kept all of its own. ``pro_rata`` lets each household keep
    its exact share, allocated × received / allocated total, rounded by
    largest remainder (a unit two households could equally keep goes to the
    earlier position), laid on its lines in queue order.

    Surplus (more arrived than allocated): nobody loses a unit; the extra
    goes to lines still below quantity + tolerance, quantity first, then
    tolerance: in queue order (``first_come``), or shared by largest
    remainder over what each household still wants, earlier position on
    ties, then laid on its lines in queue order (``pro_rata``). Units given
    out = min(``received``, total quantity + tolerance); the rest is
    ``spare``.

    Always: ``cases`` is the allocation's; every household of the allocation
    is in ``units`` and ``tolerance_units`` (0 where it gets nothing); a
    line's units above its quantity are tolerance units (so, when short,
    nobody's tolerance units grow); when everything arrived nothing
    changes; the result does not depend on the order of ``lines``. Raises
    ValueError on a negative ``received``, an unknown mode, and lines that
    do not match the allocation (a line it does not know or one it has
    units for that is missing, units that do not add up or exceed quantity
    + tolerance).
    """
    if mode not in ALLOCATION_MODES:
        raise ValueError(f"unknown allocation mode {mode!r}; use one of {ALLOCATION_MODES}")
    _check_count("received", received)
    ordered = _checked_lines(lines)
    before = _units_before(ordered, allocation)
    households: list[Any] = list(dict.fromkeys(line.household_id for line in ordered))
    allocated = sum(before)

    if received <= allocated:
        if mode == FIRST_COME:
            after = _hand_out(received, before)
        else:
            keep = split_pence(
                received, {h: allocation.units[h] for h in households}, tie_order=households
            )
            after = _lay_on_lines(ordered, keep, before)
    else:
        extra = received - allocated
        q_room = [max(0, line.quantity - b) for line, b in zip(ordered, before, strict=True)]
        q_add = _share_room(extra, q_room, ordered, households, mode)
        now = [b + q for b, q in zip(before, q_add, strict=True)]
        t_room = [line.quantity + line.tolerance - n for line, n in zip(ordered, now, strict=True)]
        t_add = _share_room(extra - sum(q_add), t_room, ordered, households, mode)
        after = [n + t for n, t in zip(now, t_add, strict=True)]

    units = dict.fromkeys(allocation.units, 0)
    tolerance_units = dict.fromkeys(allocation.units, 0)
    line_units: dict[int, int] = {}
    for line, got in zip(ordered, after, strict=True):
        line_units[line.queue_pos] = got
        units[line.household_id] += got
        tolerance_units[line.household_id] += max(0, got - line.quantity)
    return Allocation(
        cases=allocation.cases,
        units=units,
        line_units=line_units,
        tolerance_units=tolerance_units,
        spare=received - sum(after),
    )


def _units_before(ordered: list[PledgeLine], allocation: Allocation) -> list[int]:
    """Each line's units in ``allocation`` (lines in queue order), checked against the lines."""
    known = set(allocation.line_units)
    given = {line.queue_pos for line in ordered}
    if given - known:
        raise ValueError(f"the allocation has no units for lines {sorted(given - known)}")
    if known - given:
        raise ValueError(f"the allocation has units for unknown lines {sorted(known - given)}")
    before = [
        _check_count(f"units of line {line.queue_pos}", allocation.line_units[line.queue_pos])
        for line in ordered
    ]
    per_household: dict[Any, int] = {}
    for line, units in zip(ordered, before, strict=True):
        if units > line.quantity + line.tolerance:
            raise ValueError(f"line {line.queue_pos} has more units than it asked for")
        per_household[line.household_id] = per_household.get(line.household_id, 0) + units
    for household in {*per_household, *allocation.units}:
        if allocation.units.get(household) != per_household.get(household, 0):
            raise ValueError(f"the units of {household!r} do not add up over its lines")
    return before


def _lay_on_lines(
    ordered: list[PledgeLine], share: Mapping[Any, int], room: list[int]
) -> list[int]:
    """Lay each household's ``share`` on its lines in queue order, each up to its ``room``."""
    left = dict(share)
    given = []
    for line, space in zip(ordered, room, strict=True):
        take = min(space, left[line.household_id])
        left[line.household_id] -= take
        given.append(take)
    return given


def _share_room(
    amount: int, room: list[int], ordered: list[PledgeLine], households: list[Any], mode: str
) -> list[int]:
    """Give up to ``amount`` units to lines with ``room``: queue order, or pro rata by household."""
    if mode == FIRST_COME:
        return _hand_out(amount, room)
    wants = dict.fromkeys(households, 0)
    for line, space in zip(ordered, room, strict=True):
        wants[line.household_id] += space
    # As in _pro_rata: sharing at most the total want never gives anybody more than its own.
    share = split_pence(min(amount, sum(room)), wants, tie_order=households)
    return _lay_on_lines(ordered, share, room)


def household_positions(lines: Iterable[PledgeLine]) -> dict[Any, int]:
    """Return each household's position: its earliest queue position among ``lines``."""
    positions: dict[Any, int] = {}
    for line in lines:
        known = positions.get(line.household_id)
        if known is None or line.queue_pos < known:
            positions[line.household_id] = line.queue_pos
    return positions


def _later_first(keys: Iterable[H], positions: Mapping[H, int]) -> list[H]:
    """Keys ordered latest position first: the order in which remainder pennies are owed."""
    keys = list(keys)
    missing = [k for k in keys if k not in positions]
    if missing:
        raise ValueError(f"no position for {missing!r}")
    return sorted(keys, key=lambda k: positions[k], reverse=True)


def share_product_cost(
    total_pence: int, units: Mapping[H, int], positions: Mapping[H, int]
) -> dict[H, int]:
    """Share one product's cost (cases × case price) over households by units.

    Promises: largest remainder, so the shares sum to exactly
    ``total_pence``; each share is within 1p of cost × units / total units;
    of two households that could equally take a remainder penny, the
    later position pays it. Every key of ``units`` is in the result.
    Raises ValueError on negatives, on a key with no position, and on a
    positive cost when nobody gets a unit.
    """
    return split_pence(total_pence, units, tie_order=_later_first(units, positions))


def share_fee(
    fee_pence: int,
    goods_value: Mapping[H, int],
    positions: Mapping[H, int],
    mode: str = FEE_BY_VALUE,
    received: Mapping[H, int] | None = None,
) -> dict[H, int]:
    """Share a round fee (e.g. delivery) over the households that received anything.

    A household received something when ``received[h] > 0`` (units it gets
    in the round) if ``received`` is given, else when ``goods_value[h] > 0``.
    ``by_value`` (default) shares in proportion to goods value (equally among
    receivers if all their goods were free); ``equal`` shares equally per
    receiving household. Largest remainder: shares sum to exactly
    ``fee_pence``, remainder pennies paid by the later position. Households
    that received nothing pay 0.

    Every key of ``goods_value`` and ``received`` is in the result. If nobody
    received anything every share is 0 (the sum is then 0, not the fee: no
    order is placed, so no fee is due). Raises ValueError on negatives, an
    unknown mode, or a receiving household with no position.
    """
    if mode not in FEE_MODES:
        raise ValueError(f"unknown fee mode {mode!r}; use one of {FEE_MODES}")
    keys = list(dict.fromkeys([*goods_value, *(received or {})]))
    for key, value in [*goods_value.items(), *(received or {}).items()]:
        _check_count(f"value for {key!r}", value)
    _check_count("fee_pence", fee_pence)
    if received is not None:
        receivers = [k for k in keys if received.get(k, 0) > 0]
    else:
        receivers = [k for k in keys if goods_value.get(k, 0) > 0]
    shares = dict.fromkeys(keys, 0)
    if not receivers:
        return shares
    weights: dict[H, int] = {k: goods_value.get(k, 0) for k in receivers}
    if mode == FEE_EQUAL or not any(weights.values()):
        weights = dict.fromkeys(receivers, 1)
    shares.update(split_pence(fee_pence, weights, tie_order=_later_first(receivers, positions)))
    return shares
