"""Which way a statement, a card attempt and a card refund may move: one table each.

Every allowed move is a row (from state, event) -> to state, with its reason in plain
words. The services take every status they write from these tables: a single move
with `move`, a guarded `UPDATE ... WHERE status IN (sources) SET status = target`
with `sources` and `target`. Anything not in a table raises `IllegalMove`.
`scripts/payment_diagram.py` draws the tables for docs/payments.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bulkbuy.domain.statuses import AttemptStatus, RefundStatus, StatementStatus


class IllegalMove(ValueError):
    """A state change its table does not allow."""


@dataclass(frozen=True)
class Move:
    source: str
    event: str
    target: str
    reason: str


@dataclass(frozen=True)
class Table:
    """The allowed moves of one kind of record, and the states a new record starts in."""

    kind: str
    states: tuple[str, ...]
    initial: tuple[str, ...]
    moves: tuple[Move, ...]

    def __post_init__(self) -> None:
        seen: set[tuple[str, str]] = set()
        for m in self.moves:
            if m.source not in self.states or m.target not in self.states:
                raise ValueError(f"{self.kind}: {m} names an unknown state")
            if (m.source, m.event) in seen:
                raise ValueError(f"{self.kind}: two moves for {m.source!r} on {m.event!r}")
            seen.add((m.source, m.event))

    def move(self, current: str, event: str) -> str:
        """The state `event` takes a record in `current` to; IllegalMove if none."""
        for m in self.moves:
            if m.source == current and m.event == event:
                return m.target
        raise IllegalMove(f"a {self.kind} that is {current!s} cannot {event.replace('_', ' ')}"
                          f" (not a move of the {self.kind} table)")

    def sources(self, event: str) -> tuple[str, ...]:
        """Every state `event` moves a record from (the guard of its UPDATE)."""
        found = tuple(m.source for m in self.moves if m.event == event)
        if not found:
            raise IllegalMove(f"{event!r} is not an event of the {self.kind} table")
        return found

    def target(self, event: str) -> str:
        """The one state `event` moves a record to, from whichever of its sources."""
        targets = {m.target for m in self.moves if m.event == event}
        if len(targets) != 1:
            raise IllegalMove(f"{event!r} has no single target in the {self.kind} table")
        return targets.pop()

    def start(self, state: str) -> str:
        """`state`, checked to be one a new record may start in."""
        if state not in self.initial:
            raise IllegalMove(f"a new {self.kind} cannot start as {state!s}")
        return state

    def events(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.event for m in self.moves))

    def reachable(self, source: str, target: str) -> bool:
        """Whether some sequence of moves (none at all included) leads from one to the
        other."""
        seen, todo = {source}, [source]
        while todo:
            here = todo.pop()
            for m in self.moves:
                if m.source == here and m.target not in seen:
                    seen.add(m.target)
                    todo.append(m.target)
        return target in seen


def move(table: Table, current: str, event: str) -> str:
    """The new status of a record of `table` in `current` after `event`; raises
    IllegalMove for a move the table does not hold."""
    return table.move(current, event)


def _moves(sources: Iterable[str], event: str, target: str, reason: str) -> list[Move]:
    return [Move(str(s), event, str(target), reason) for s in sources]


S = StatementStatus
_OWED = (S.DUE, S.CHARGING, S.NEEDS_ACTION)

STATEMENT = Table(
    kind="statement",
    states=tuple(S),
    initial=(S.DUE, S.SETTLED),
    moves=tuple([
        *_moves([S.DUE], "sweep_charges", S.CHARGING,
                "the sweep claims it to charge the saved card"),
        *_moves([S.DUE, S.NEEDS_ACTION], "resident_pays_by_card", S.CHARGING,
                "the resident pays by card on our page"),
        *_moves([S.DUE, S.NEEDS_ACTION], "cash_pays_rest", S.PAID,
                "cash covers what was still owed"),
        *_moves(_OWED, "card_pays_rest", S.PAID,
                "a card payment covers what was still owed"),
        *_moves([S.CHARGING], "card_pays_part", S.DUE,
                "a card paid part (cash came in meanwhile): the rest is owed as before"),
        *_moves([S.CHARGING], "charge_undone", S.DUE,
                "Stripe never acted on the charge: owed again, for the next sweep"),
        *_moves(_OWED, "needs_resident", S.NEEDS_ACTION,
                "the card needs the resident: their bank, a decline, or over what they "
                "agreed to"),
        *_moves([S.DUE, S.NEEDS_ACTION], "write_off", S.SETTLED,
                "an organiser decides the group covers the rest"),
        *_moves([S.DUE, S.PAID], "cash_reversed", S.DUE,
                "staff reverse a cash entry made by mistake: its amount is owed again"),
        *_moves([S.NEEDS_ACTION], "cash_reversed_card_waits", S.NEEDS_ACTION,
                "a cash entry reversed while the card needs the resident: it still does"),
        *_moves([S.SETTLED], "write_off_undone", S.DUE,
                "an organiser undoes a write-off made by mistake: what it covered is owed "
                "again"),
        *_moves([S.DUE], "credit_pays_rest", S.PAID,
                "at close, the household's credit (kept from an earlier round) covers the "
                "bill"),
        *_moves([S.DUE], "pot_pays_rest", S.PAID,
                "at close, the group's solidarity pot covers the whole bill of a supported "
                "household"),
        *_moves([S.DUE, S.NEEDS_ACTION, S.SETTLED], "delivery_paid_up", S.PAID,
                "what arrived costs no more than was already paid (a write-off of the "
                "rest is then undone)"),
        *_moves([S.DUE, S.NEEDS_ACTION, S.PAID], "delivery_nothing_to_pay", S.SETTLED,
                "nothing the household asked for arrived: there is nothing to pay"),
        *_moves([S.NEEDS_ACTION], "delivery_within_consent", S.DUE,
                "what arrived brings a bill that was over the card's agreed maximum within "
                "it: the sweep charges again"),
        *_moves([S.PAID, S.SETTLED], "delivery_owes_more", S.DUE,
                "more arrived than was paid for (extra units, or a substitute): the rest "
                "is owed"),
        *_moves([*_OWED, S.PAID, S.SETTLED], "round_cancelled", S.CANCELLED,
                "the round was cancelled after it closed: card money goes back"),
    ]),
)

A = AttemptStatus
_ASKED = (A.PENDING, A.UNKNOWN)

ATTEMPT = Table(
    kind="card attempt",
    states=tuple(A),
    initial=(A.PENDING,),
    moves=tuple([
        *_moves(_ASKED, "answer_lost", A.UNKNOWN,
                "asked, but no answer came: look it up before asking again"),
        *_moves([*_ASKED, A.REQUIRES_ACTION, A.DECLINED, A.CANCELED], "succeeded",
                A.SUCCEEDED, "Stripe took the money (final; it outranks any earlier no)"),
        *_moves(_ASKED, "requires_action", A.REQUIRES_ACTION,
                "the bank wants the resident to confirm (3-D Secure)"),
        *_moves([*_ASKED, A.REQUIRES_ACTION], "declined", A.DECLINED,
                "nothing was taken: the card was declined or the bank said no"),
        *_moves([*_ASKED, A.REQUIRES_ACTION, A.DECLINED], "canceled", A.CANCELED,
                "Stripe cancelled the PaymentIntent"),
        *_moves(_ASKED, "undone", A.CANCELED,
                "never reached Stripe, or given up after look-ups found nothing"),
    ]),
)

R = RefundStatus

REFUND = Table(
    kind="card refund",
    states=tuple(R),
    initial=(R.PENDING,),
    moves=tuple([
        *_moves([R.PENDING, R.UNKNOWN], "claimed", R.UNKNOWN,
                "a sweep takes it to Stripe; unknown until the answer is recorded"),
        *_moves([R.PENDING, R.UNKNOWN], "accepted", R.SUCCEEDED,
                "Stripe accepted it: the money is on its way back to the card"),
        *_moves([R.PENDING, R.UNKNOWN, R.SUCCEEDED], "refused", R.FAILED,
                "Stripe refused it or the bank sent it back: its pence are freed to "
                "ask again"),
    ]),
)

TABLES = (STATEMENT, ATTEMPT, REFUND)

#: What a PaymentIntent status reported to us (our attempt statuses) does to an attempt.
ATTEMPT_EVENT_FOR = {
    A.PENDING: "answer_lost",
    A.UNKNOWN: "answer_lost",
    A.SUCCEEDED: "succeeded",
    A.REQUIRES_ACTION: "requires_action",
    A.DECLINED: "declined",
    A.CANCELED: "canceled",
}
