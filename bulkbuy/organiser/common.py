"""What every organiser page shares: loading a group, supplier or round the person may
manage (404 otherwise), and pounds as typed in forms."""

from __future__ import annotations

from collections.abc import Collection

from flask import (
    abort,
)

from bulkbuy import access
from bulkbuy.domain import statuses
from bulkbuy.models import Group, Membership, Round, Supplier
from bulkbuy.services import (
    catalogue,
    rounds,
)

CLOSED_STATUSES = statuses.FINISHED_ROUNDS




def pounds_text(pence: int | None) -> str:
    """Pence as a plain number of pounds for a form field: 1250 -> '12.50'."""
    return "" if pence is None else f"{pence // 100}.{pence % 100:02d}"


def _organiser(group_id: int) -> Group:
    access.require_role(group_id, "organiser")
    return access.group_or_404(group_id)


def _supplier(group: Group, supplier_id: int) -> Supplier:
    supplier = catalogue.supplier_of_group(group.id, supplier_id)
    if supplier is None:
        abort(404)
    return supplier


def _round(group: Group, round_id: int) -> Round:
    rnd = rounds.round_of_group(group.id, round_id)
    if rnd is None:
        abort(404)
    return rnd


def _round_in(group: Group, round_id: int, shown: Collection[str]) -> Round:
    """The group's round with this id when its status is one of `shown` (404 otherwise)."""
    rnd = _round(group, round_id)
    if rnd.status not in shown:
        abort(404)
    return rnd


def _closed_round(group: Group, round_id: int) -> Round:
    return _round_in(group, round_id, CLOSED_STATUSES)


def _staff(group_id: int) -> tuple[Group, Membership]:
    """Organisers and community workers of the group (workers take cash at drop-ins)."""
    member = access.require_role(group_id, "organiser", "worker")
    return access.group_or_404(group_id), member
