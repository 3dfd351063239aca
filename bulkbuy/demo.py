"""Demo data: one estate's group, its people, a supplier and an open round."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, Membership
from bulkbuy.services import accounts, catalogue, pledges, rounds

DEMO_GROUP = "Riverside Estate"
DEMO_PASSWORD = "bulkbuy-demo"  # noqa: S105 - published demo logins, never for real use
DEMO_PIN = "1234"

PRODUCTS = [
    # name, unit, case size, case price (pence), retail per unit (pence), code
    ("Basmati rice", "1kg of rice (from a 25kg sack)", 25, 3150, 250, "RIC25"),
    ("Chopped tomatoes", "400g tin", 24, 1056, 65, "TOM24"),
    ("Chickpeas", "400g tin", 12, 720, 85, "CHK12"),
    ("Red lentils", "1kg bag", 10, 1890, 260, "LEN10"),
    ("Plain flour", "1.5kg bag", 10, 1150, 150, "FLR10"),
    ("Sunflower oil", "1 litre bottle", 12, 2280, 250, "OIL12"),
    ("Porridge oats", "1kg bag", 10, 1290, 175, "OAT10"),
    ("Pasta shells", "500g bag", 20, 1180, 85, "PAS20"),
    ("Baked beans", "415g tin", 24, 1320, 75, "BEA24"),
    ("UHT milk", "1 litre carton", 12, 1068, 115, "MLK12"),
    ("Tea bags", "box of 80", 12, 2150, 250, "TEA12"),
    ("Toilet roll", "pack of 9", 5, 1725, 500, "TLR05"),
    ("Washing-up liquid", "900ml bottle", 8, 1040, 175, "WUL08"),
    ("Laundry powder", "2kg box", 4, 2360, 800, "LAU04"),
    ("Sugar", "1kg bag", 15, 1485, 130, "SUG15"),
]


def _six_pm_local(day: datetime) -> datetime:
    """6pm London time on `day`'s date: a deadline people can remember."""
    local = day.astimezone(ZoneInfo("Europe/London"))
    return local.replace(hour=18, minute=0, second=0, microsecond=0)


def seed_demo(now: datetime) -> tuple[bool, list[tuple[str, str]]]:
    """Create the demo once. Returns (created, logins); a second run creates nothing."""
    logins = [
        ("Site admin", f"admin@example.org / {DEMO_PASSWORD}"),
        ("Organiser", f"organiser@example.org / {DEMO_PASSWORD}"),
        ("Community worker", f"worker@example.org / {DEMO_PASSWORD}"),
        ("Residents", f"resident1@example.org … resident14@example.org / {DEMO_PASSWORD}"),
        ("Assisted households", "Flat 15 … Flat 20 (no account)"),
        ("Tablet PIN of every household", DEMO_PIN),
    ]
    if db.session.scalar(select(Group).where(Group.name == DEMO_GROUP)) is not None:
        return False, logins

    admin = accounts.find_user("admin@example.org") or accounts.create_user(
        "admin@example.org", "Site admin", DEMO_PASSWORD, is_site_admin=True
    )
    organiser = accounts.create_user("organiser@example.org", "Grace Okafor", DEMO_PASSWORD)
    group = accounts.create_group(DEMO_GROUP, "Europe/London", organiser, actor=admin)
    worker = accounts.create_user("worker@example.org", "Sam Patel", DEMO_PASSWORD)
    db.session.add(Membership(user_id=worker.id, group_id=group.id, role="worker"))

    names = ["Amina", "Tom", "Joanna", "Kwame", "Li", "Fatima", "Dave", "Marta", "Yusuf",
             "Priya", "Sean", "Olu", "Hannah", "Bilal"]
    households = []
    pin_hash = accounts.hash_secret(DEMO_PIN)  # every demo household uses the tablet PIN
    for number, first_name in enumerate(names, start=1):
        user = accounts.create_user(
            f"resident{number}@example.org", first_name, DEMO_PASSWORD
        )
        membership = accounts.join_group(group, user, f"Flat {number}")
        membership.household.block = "Block A" if number <= 10 else "Block B"
        membership.household.pin_hash = pin_hash
        households.append((membership.household, user))
    for number in range(15, 21):
        household = Household(
            group_id=group.id, label=f"Flat {number}", block="Block B", is_assisted=True,
            pin_hash=pin_hash,
        )
        db.session.add(household)
        households.append((household, worker))
    db.session.flush()

    supplier = catalogue.create_supplier(
        group.id, "Fairway Wholesale", "orders@fairway.example", actor=organiser
    )
    products = []
    for name, unit, size, price, retail, code in PRODUCTS:
        products.append(
            catalogue.save_product(
                supplier,
                catalogue.ProductFields(name, unit, size, price, retail, code),
                actor=organiser,
            )
        )
    rnd = rounds.create_round(
        group, supplier, products,
        rounds.RoundDetails(
            title="Store cupboard, December",
            closes_at=_six_pm_local(now + timedelta(days=5)),
            delivery_fee_pence=1500,
            min_order_pence=5000,
            collection_place="Riverside Community Centre, hall 2",
            collection_time="Saturday 10am to 12pm",
        ),
        created_by=organiser, now=now,
    )
    rounds.open_round(rnd, actor=organiser, now=now)
    db.session.flush()
    items = {i.product.supplier_code: i for i in rnd.items}
    # Rice, tomatoes, oil and beans fill their boxes (some thanks to "help fill a box");
    # chickpeas and tea do not, so the demo shows both outcomes.
    demo_pledges = [
        ("RIC25", [5, 3, 2, 4, 1, 2, 3], [0, 2, 2, 0, 0, 1, 0]),
        ("TOM24", [6, 4, 3, 2, 2, 1, 4], [2, 0, 0, 2, 0, 0, 0]),
        ("CHK12", [4, 2, 3], [0, 2, 0]),
        ("OIL12", [2, 3, 1, 2, 2, 2], [0, 1, 0, 0, 0, 0]),
        ("TEA12", [1, 1, 2], [0, 0, 0]),
        ("BEA24", [6, 6, 4, 4, 2], [0, 0, 2, 0, 0]),
    ]
    for product_index, (code, quantities, tolerances) in enumerate(demo_pledges):
        for index, (quantity, tolerance) in enumerate(zip(quantities, tolerances, strict=True)):
            household, user = households[(index * 3 + product_index * 2) % len(households)]
            pledges.set_pledge(
                items[code], household, quantity, tolerance,
                entered_by=user, now=now, max_units=999,
            )
    return True, logins


