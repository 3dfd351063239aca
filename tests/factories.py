"""Building test data through the real services (so tests use the real rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, Membership, Product, Round, Supplier, User, utcnow
from bulkbuy.services import accounts, catalogue, rounds

PASSWORD = "password123"


def user(email: str, name: str = "Test Person", *, admin: bool = False) -> User:
    return accounts.create_user(email, name, PASSWORD, is_site_admin=admin)


@dataclass
class World:
    """A group with an organiser, a worker, residents, a supplier, products and a round."""

    group: Group
    organiser: User
    worker: User
    residents: list[User]
    households: list[Household]
    supplier: Supplier
    products: list[Product]
    round: Round | None = None
    extra: dict = field(default_factory=dict)


def world(
    *,
    name: str = "Oak Estate",
    residents: int = 2,
    products: tuple[tuple[str, int, int], ...] = (("Tinned tomatoes", 12, 1000),
                                                   ("Rice", 25, 3150)),
    open_round: bool = True,
    closes_in: timedelta = timedelta(days=3),
    now: datetime | None = None,
    prefix: str = "",
) -> World:
    """Make a whole group; `products` are (name, case size, case price in pence)."""
    now = now or utcnow()
    organiser = user(f"{prefix}org@{name.split()[0].lower()}.test", "Olive Organiser")
    group = accounts.create_group(name, "Europe/London", organiser, actor=None)
    worker = user(f"{prefix}worker@{name.split()[0].lower()}.test", "Walt Worker")
    db.session.add(Membership(user_id=worker.id, group_id=group.id, role="worker"))
    people, homes = [], []
    for number in range(1, residents + 1):
        person = user(f"{prefix}r{number}@{name.split()[0].lower()}.test", f"Resident {number}")
        membership = accounts.join_group(group, person, f"Flat {number}")
        people.append(person)
        homes.append(membership.household)
    supplier = catalogue.create_supplier(group.id, "Wholesaler", None, actor=organiser)
    made = [
        catalogue.save_product(
            supplier,
            catalogue.ProductFields(product_name, "unit", size, price),
            actor=organiser,
        )
        for product_name, size, price in products
    ]
    rnd = None
    if open_round:
        rnd = rounds.create_round(
            group, supplier, made,
            rounds.RoundDetails(title="Test round", closes_at=now + closes_in),
            created_by=organiser, now=now,
        )
        rounds.open_round(rnd, actor=organiser, now=now)
    db.session.commit()
    return World(group, organiser, worker, people, homes, supplier, made, rnd)
