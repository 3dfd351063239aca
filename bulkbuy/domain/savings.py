"""What buying together saved, compared with shop prices: exact integer pence.

A bill's saving is worked out from its lines only: for each product the household gets
(units > 0) that has a shop price for one unit, the shop would have charged
``units × shop_unit_pence``; the saving is that minus what the line costs
(``amount_pence``). The delivery share is not part of it: the comparison is of goods.

Rules (the tests in tests/unit/test_savings.py read as these):

- A product without a shop price is left out of the sum and counted in
  ``lines_without_price``, so the page can say the saving may be more.
- A product dearer than the shop counts against the saving (it is negative): the figure
  is honest, never only the good news. So the total may be 0 or below: then nobody is
  told "You saved" (see ``Saving.kind``).
- A line of no units is left out altogether (nothing was bought, nothing compared).
- A round's saving is the sum of its bills' savings, so it never depends on the order
  the bills or lines come in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Saving.kind: the bill cost less than the shops, the same, or more.
SAVED = "saved"
SAME = "same"
MORE = "more"


@dataclass(frozen=True)
class SavingLine:
    """One product on a bill: units got, what they cost, and one unit's shop price (None
    when the product has none)."""

    units: int
    amount_pence: int
    shop_unit_pence: int | None


@dataclass(frozen=True)
class Saving:
    """Pence saved compared with shop prices (negative: that much more than the shops),
    over the lines with a shop price; and how many lines got had none."""

    saved_pence: int = 0
    lines_with_price: int = 0
    lines_without_price: int = 0

    @property
    def shown(self) -> bool:
        """Whether there is anything to say: at least one product got has a shop price."""
        return self.lines_with_price > 0

    @property
    def kind(self) -> str:
        """SAVED when saved_pence > 0, SAME when it is 0, MORE when below 0."""
        if self.saved_pence > 0:
            return SAVED
        return SAME if self.saved_pence == 0 else MORE

    @property
    def more_pence(self) -> int:
        """Pence above shop prices (0 unless kind is MORE)."""
        return max(-self.saved_pence, 0)

    @property
    def may_be_more(self) -> bool:
        """Some products got have no shop price, so the real saving may be more."""
        return self.shown and self.lines_without_price > 0

    def __add__(self, other: Saving) -> Saving:
        return Saving(self.saved_pence + other.saved_pence,
                      self.lines_with_price + other.lines_with_price,
                      self.lines_without_price + other.lines_without_price)


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number of pence (int), "
                        f"not {type(value).__name__}")
    return value


def saving(lines: Iterable[SavingLine | tuple[int, int, int | None]]) -> Saving:
    """The saving of one bill from its lines, each a SavingLine or a tuple
    (units, amount_pence, shop_unit_pence or None): see the module's rules.

    Raises TypeError on anything but whole numbers (no floats), ValueError on negative
    units, amounts or shop prices."""
    saved = with_price = without_price = 0
    for line in lines:
        units, amount, shop = (line.units, line.amount_pence, line.shop_unit_pence) \
            if isinstance(line, SavingLine) else line
        _whole("units", units)
        _whole("amount_pence", amount)
        if shop is not None:
            _whole("shop_unit_pence", shop)
        if units < 0 or amount < 0 or (shop is not None and shop < 0):
            raise ValueError("units, amounts and shop prices cannot be negative")
        if units == 0:
            continue
        if shop is None:
            without_price += 1
            continue
        with_price += 1
        saved += units * shop - amount
    return Saving(saved, with_price, without_price)


def round_saving(bills: Iterable[Saving]) -> Saving:
    """The round's saving: the sum of its bills' savings (and of their line counts)."""
    total = Saving()
    for bill in bills:
        total = total + bill
    return total
