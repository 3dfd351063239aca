"""Benchmark: the drop-in tablet's household list and pledge screen, against hello-world.

    python bench/tablet.py                      # SQLite file in a temporary directory
    python bench/tablet.py --postgres URL       # or BENCH_DATABASE_URL=URL
    python bench/tablet.py --duration 5 --products 40

Builds a fresh database with the migrated schema: one group of 200 households
(most in blocks such as "Birch House", some in none), a worker, and one open
round of 40 products that three households in four have pledged for. Each
product has a picture, given the way an organiser gives one: a photo-like
800x800 JPEG made here (different for each) goes through
bulkbuy.services.pictures (checked, made a 192px WebP, stored in the
checkout's instance/pictures/, where the served app finds it); the files this
run added are taken away at the end. Serves
the app with gunicorn exactly as bench/round_page.py does (2 sync workers on
127.0.0.1, and the same load: wrk -t2 -c8, or its Python stand-in), and:

1. signs the worker in through the real form and starts tablet mode with the
   real POST /tablet/start (CSRF on), so the `session` and `bulkbuy_tablet`
   cookies are the ones a tablet holds;
2. weighs the household list (GET /tablet/) with a cold cache: the page and
   every stylesheet, script and image it names, each counted once, as sent;
3. loads the household list (no resident's turn open: its steady state);
4. starts a resident's turn the real way (POST /tablet/household, then the
   household's PIN to POST /tablet/pin) and keeps its `bulkbuy_turn` cookie;
5. weighs, then loads, the pledge screen (GET /tablet/order) during that turn;
6. when the pages name no icon, asks for /favicon.ico as a browser then does
   (following redirects, with the page's cookies) and says what that costs
   and whether the turn is still open after it (reported, not counted);
7. picks Urdu on the list the real way (POST /tablet/language, the list's CSRF
   token), checks the list is `<html lang="ur" dir="rtl"`, weighs and loads it;
   starts a turn after the pick and checks, weighs and loads its pledge screen;
8. loads bench/hello_app.py under the same gunicorn settings.

Bytes are given two ways: everything the page names (strict: the target is
judged on this), and its first screen (all but the images it names only with
loading="lazy", which a browser fetches as they come near the screen). When the
strict figure is over 100 kB both are printed, and the target line says so.

Every tablet response under load must be a 200 carrying the whole page (bytes
per response at least the page's size; the page checked again afterwards);
anything else is counted and printed, and the run exits 1.

The last lines printed are always

    tablet_list_first_screen_bytes=N tablet_order_first_screen_bytes=N
    tablet_language=ur list_rps=... order_rps=... list_ratio_to_english=...
        order_ratio_to_english=... list_bytes=N order_bytes=N within_10%=yes|NO
    tablet_list_bytes=N tablet_order_bytes=N
    tablet_list_rps=... hello_rps=... ratio=...
    tablet_order_rps=... hello_rps=... ratio=...

(the pledge screen's last: what a resident waits on after every tap).

PostgreSQL: the database's public schema is DROPPED and rebuilt. That happens
only when the database is empty, its name contains "bench", or --wipe is given.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import http.cookiejar
import io
import random
import re
import sys
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402 - servers, sign-in, load and the lines printed (bench/harness.py)

HOST = harness.HOST
USER_AGENT = harness.USER_AGENT  # "strong" session protection: keep it constant
WORKER_EMAIL = "bench-worker@example.org"
PASSWORD = harness.PASSWORD
PIN = "2580"
HOUSEHOLDS = 200
#: (block, households in it); None is "Other homes" on the tablet.
BLOCKS = (("Birch House", 64), ("Cedar Court", 56), ("Elm Terrace", 48), (None, 32))
BENCH_HOUSEHOLD = "12 Birch House"  # takes the turn on the pledge screen
TARGET_RATIO = 0.20
TARGET_BYTES = 100_000  # 100 kB a page, cold cache
#: Turns end after this many idle seconds; generous, so a slow machine never ends
#: the measured turn between starting it and loading its page (3 digits, as the default).
IDLE_SECONDS = "900"
#: What a tablet's browser sends for a page: it would take gzip if the server offered it
#: (browsers also take br and zstd; the bench asks only for what it can count).
BROWSER_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
    "Accept-Encoding": "gzip",
    "Accept-Language": "en-GB,en;q=0.9",
}

PRODUCT_NAMES = (
    "Basmati rice", "Red lentils", "Chickpeas", "Chopped tomatoes", "Kidney beans",
    "Baked beans", "Porridge oats", "Plain flour", "Self-raising flour", "Caster sugar",
    "Sunflower oil", "Olive oil", "Pasta shells", "Spaghetti", "Penne", "Peanut butter",
    "Strawberry jam", "Honey", "Tea bags", "Instant coffee", "UHT milk", "Oat drink",
    "Cornflakes", "Muesli", "Tinned tuna", "Sardines", "Sweetcorn", "Garden peas",
    "Coconut milk", "Vegetable stock", "Soy sauce", "Black pepper", "Sea salt",
    "Washing-up liquid", "Laundry powder", "Toilet roll", "Kitchen roll", "Hand soap",
    "Toothpaste", "Shampoo", "Nappies", "Baby wipes", "Dried apricots", "Raisins",
    "Cashew nuts", "Brown rice", "Couscous", "Bulgur wheat", "Rolled barley", "Polenta",
)
UNITS = ("1kg bag", "400g tin", "500g pack", "1 litre bottle", "box of 80", "750ml jar")


def say(message: str) -> None:
    harness.say(message)


# --- the database -------------------------------------------------------------------------


@dataclass
class Data:
    group_id: int
    bench_household_id: int
    last_tile_label: str  # the household shown last on the list
    last_item_id: int  # the product shown last on the pledge screen


#: The size of the photo an organiser sends for each product (a phone's, cut square).
PHOTO_SIDE = 800


def product_photo(n: int, side: int = PHOTO_SIDE) -> bytes:
    """A photo-like JPEG for product `n`, different for each: a shelf in a soft light, a
    packet or a tin with a printed label (lines of "letters"), grain at several scales,
    so that it makes a stored picture of a realistic size (a flat colour would make a
    200-byte one, and smooth shapes alone under 2 kB)."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(1000 + n)

    def colour(low: int = 0, high: int = 255) -> tuple[int, int, int]:
        return tuple(rng.randint(low, high) for _ in range(3))

    # The light: a gradient at an angle of its own, and a bright patch somewhere.
    ramp = Image.linear_gradient("L").resize((side * 2, side * 2))
    ramp = ramp.rotate(rng.uniform(0, 360), resample=Image.Resampling.BICUBIC)
    ramp = ramp.crop((side // 2, side // 2, side // 2 + side, side // 2 + side))
    photo = Image.composite(Image.new("RGB", (side, side), colour(120, 255)),
                            Image.new("RGB", (side, side), colour(0, 140)), ramp)
    spot = Image.radial_gradient("L").resize((side * 2, side * 2))
    dx, dy = rng.randint(0, side), rng.randint(0, side)
    spot = spot.crop((dx, dy, dx + side, dy + side))
    photo = Image.composite(photo, Image.new("RGB", (side, side), colour(200, 255)), spot)
    draw = ImageDraw.Draw(photo)
    for k in range(3):  # shelves behind, and things on them
        y = rng.randint(k * side // 3, (k + 1) * side // 3)
        draw.rectangle((0, y, side, y + rng.randint(6, 18)), fill=colour(60, 200))
        for _ in range(rng.randint(2, 5)):
            x, w, h = rng.randint(0, side), rng.randint(30, 120), rng.randint(40, 160)
            draw.rectangle((x, y - h, x + w, y), fill=colour())
    # The product: a packet or a tin, its lid, its label and what is printed on it.
    x0, y0 = rng.randint(side // 8, side // 4), rng.randint(side // 10, side // 4)
    x1, y1 = side - rng.randint(side // 8, side // 4), side - rng.randint(side // 10, side // 5)
    body = colour()
    if n % 2:
        draw.rounded_rectangle((x0, y0, x1, y1), radius=rng.randint(10, 60), fill=body)
    else:
        draw.ellipse((x0, y0, x1, y1), fill=body)
    draw.rectangle((x0 + 10, y0, x1 - 10, y0 + rng.randint(20, 60)), fill=colour(0, 120))
    lx0, lx1 = x0 + (x1 - x0) // 8, x1 - (x1 - x0) // 8
    ly0 = rng.randint(y0 + (y1 - y0) // 5, y0 + (y1 - y0) // 3)
    ly1 = ly0 + (y1 - y0) // 2
    draw.rectangle((lx0, ly0, lx1, ly1), fill=colour(170, 255))
    ink = colour(0, 90)
    y = ly0 + 14
    while y < ly1 - 20:  # the name large, then lines of small print
        size = rng.randint(26, 44) if y < ly0 + 60 else rng.randint(7, 14)
        x = lx0 + 12
        while x < lx1 - 12 - size:
            if rng.random() < 0.15:
                x += size  # a space
                continue
            w = int(size * rng.uniform(0.4, 0.8))
            draw.rectangle((x, y, x + w, y + size), fill=ink)
            x += w + max(2, size // 5)
        y += int(size * 1.5)
    for _ in range(2 + n % 4):  # a picture on the label
        cx, cy, r = rng.randint(lx0, lx1), rng.randint(ly0, ly1), rng.randint(10, 45)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour())
    photo = photo.filter(ImageFilter.GaussianBlur(0.8 + (n % 3) / 3))  # a lens's softness
    # Grain: coarse (uneven light, texture) and fine (the camera's sensor).
    coarse = Image.effect_noise((side // 5, side // 5), 70).resize(
        (side, side), Image.Resampling.BICUBIC).convert("RGB")
    fine = Image.effect_noise((side, side), 50).convert("RGB")
    photo = Image.blend(Image.blend(photo, coarse, 0.10), fine, 0.05)
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=88)
    return out.getvalue()


def picture_folder() -> Path:
    """Where the app (built here and served by gunicorn, both from this checkout) keeps
    pictures: instance/pictures/ of the checkout (bulkbuy.services.pictures.directory)."""
    from bulkbuy.services import pictures

    return pictures.directory(ROOT / "instance")


def build_database(url: str, products: int, stored: list[Path]) -> Data:
    """Migrate and fill the database (services for what matters, bulk inserts for bulk)."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select

    from bulkbuy import create_app
    from bulkbuy.extensions import db
    from bulkbuy.models import Household, Membership, PledgeLine, utcnow
    from bulkbuy.services import accounts, catalogue, pictures, pledges, rounds, tablet
    from config import Config, database_url

    app = create_app(
        Config, {"SQLALCHEMY_DATABASE_URI": database_url(url), "SECRET_KEY": "bench-build"}
    )
    folder = pictures.directory(app.instance_path)
    if folder.resolve() != picture_folder().resolve():
        raise SystemExit(f"the app keeps pictures in {folder}, not {picture_folder()}")
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        now = utcnow()
        organiser = accounts.create_user("bench-organiser@example.org", "Olive Organiser",
                                         PASSWORD)
        group = accounts.create_group("Bench Estate", "Europe/London", organiser, actor=None)
        worker = accounts.create_user(WORKER_EMAIL, "Walt Worker", PASSWORD)
        db.session.add(Membership(user_id=worker.id, group_id=group.id, role="worker"))
        supplier = catalogue.create_supplier(group.id, "Wholesaler", None, actor=organiser)
        made = [
            catalogue.save_product(
                supplier,
                catalogue.ProductFields(
                    PRODUCT_NAMES[n % len(PRODUCT_NAMES)]
                    + ("" if n < len(PRODUCT_NAMES) else f" ({n // len(PRODUCT_NAMES) + 1})"),
                    UNITS[n % len(UNITS)], 6 + n % 20, 500 + 37 * n, None, f"P{n:02d}"),
                actor=organiser,
            )
            for n in range(products)
        ]
        # Each product gets a photo the way an organiser gives it one (checked, made
        # small, stored under instance/pictures/, audited). `stored` is what was not
        # there before, to take away when the bench is done.
        there = {p.name for p in folder.glob("*.webp")} if folder.exists() else set()
        photo_bytes = picture_bytes = 0
        for n, product in enumerate(made):
            photo = product_photo(n)
            name = pictures.set_product_picture(product, photo, folder, actor=organiser)
            photo_bytes += len(photo)
            picture_bytes += (folder / name).stat().st_size
            if name not in there and folder / name not in stored:
                stored.append(folder / name)
        say(f"pictures: {len(made)} photos of {PHOTO_SIDE}x{PHOTO_SIDE} "
            f"({photo_bytes // max(1, len(made)):,} bytes each on average as JPEG) stored as "
            f"{pictures.LONGEST_SIDE}px WebP: {picture_bytes // max(1, len(made)):,} bytes "
            f"each on average, {picture_bytes:,} in all")
        rnd = rounds.create_round(
            group, supplier, made,
            rounds.RoundDetails(title="March bulk order", closes_at=now + timedelta(days=7),
                                delivery_fee_pence=1500, min_order_pence=10_000,
                                collection_place="Community centre"),
            created_by=organiser, now=now,
        )
        rounds.open_round(rnd, actor=organiser, now=now)
        db.session.flush()
        items = sorted(rnd.items, key=lambda i: i.id)

        # The household that takes the turn: assisted, with a PIN, and an order that
        # helpers entered at earlier drop-ins (so the page names them), via the services.
        home = tablet.create_assisted_household(group, BENCH_HOUSEHOLD, "Birch House", PIN,
                                                actor=organiser, now=now)
        for k, (by, quantity) in enumerate(((worker, 2), (worker, 1), (organiser, 3),
                                            (worker, 1))):
            pledges.set_pledge(items[(k * 11) % len(items)], home, quantity, k % 2,
                               entered_by=by, now=now, max_units=999)
        db.session.flush()

        assert sum(count for _block, count in BLOCKS) == HOUSEHOLDS
        labels = [(f"{n} {block or 'Mill Lane'}", block)
                  for block, count in BLOCKS for n in range(1, count + 1)]
        labels = [pair for pair in labels if pair[0] != BENCH_HOUSEHOLD]
        homes = db.session.scalars(
            insert(Household).returning(Household.id, sort_by_parameter_order=True),
            [{"group_id": group.id, "label": label, "block": block, "is_assisted": n % 3 == 0}
             for n, (label, block) in enumerate(labels)],
        ).all()
        start = (db.session.scalar(select(func.max(PledgeLine.queue_pos))) or 0) + 1
        rows = []
        for n, home_id in enumerate(homes):
            if n % 4 == 3:
                continue  # one household in four has not ordered (yet)
            for k in range(1 + n % 5):
                rows.append({
                    "round_id": rnd.id,
                    "round_item_id": items[(n * 7 + k * 13) % len(items)].id,
                    "household_id": home_id,
                    "queue_pos": start + len(rows),
                    "quantity": 1 + (n + k) % 4,
                    "tolerance": (n + k) % 3,
                    "created_at": now,
                    "entered_by_id": worker.id if n % 3 == 0 else organiser.id,
                })
        db.session.execute(insert(PledgeLine), rows)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(select(func.setval("pledge_queue_seq", start + len(rows))))
        db.session.commit()

        shown = tablet.households(group.id)  # the tablet's own order
        lines = db.session.scalar(select(func.count()).select_from(PledgeLine))
        blocks = len({h.block for h in shown if h.block})
        say(f"database: {len(shown)} households ({blocks} blocks, "
            f"{sum(1 for h in shown if not h.block)} homes in none), "
            f"{lines} pledge lines, {len(items)} products, round {rnd.id}")
        data = Data(group_id=group.id, bench_household_id=home.id,
                    last_tile_label=shown[-1].label,
                    last_item_id=max(items, key=lambda i: i.name).id)
        db.session.remove()
        db.engine.dispose()
    return data


# --- the tablet, through its real pages ---------------------------------------------------


class Tablet:
    """A browser that a worker has put in tablet mode: one cookie jar, real forms."""

    def __init__(self, port: int) -> None:
        self.base = f"http://{HOST}:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.opener.addheaders = [("User-Agent", USER_AGENT)]

    def get(self, path: str) -> tuple[str, str]:
        """GET (following redirects); returns (final path, body)."""
        with self.opener.open(self.base + path, timeout=30) as response:
            return urllib.parse.urlsplit(response.url).path, response.read().decode()

    def post(self, path: str, fields: dict) -> tuple[str, str]:
        """POST a form (its csrf_token among `fields`), following the 303; (final path, body)."""
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return urllib.parse.urlsplit(response.url).path, response.read().decode()

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def cookie_header(self, *names: str) -> str:
        parts = []
        for name in names:
            value = self.cookie(name)
            if value is None:
                raise SystemExit(f"the tablet has no {name} cookie")
            parts.append(f"{name}={value}")
        return "; ".join(parts)


def csrf_token(page: str, where: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    if found is None:
        raise SystemExit(f"no csrf_token on {where}")
    return found.group(1)


def start_tablet(port: int, group_id: int, list_marker: str) -> Tablet:
    """Sign the worker in and start tablet mode, both through the real forms."""
    tablet = Tablet(port)
    _, form = tablet.get("/login")
    where, _ = tablet.post("/login", {"csrf_token": csrf_token(form, "/login"),
                                      "email": WORKER_EMAIL, "password": PASSWORD})
    if where == "/login":
        raise SystemExit("sign-in failed (is instance/config.py pointing at another DB?)")
    _, form = tablet.get("/tablet/start")
    if f'value="{group_id}"' not in form:
        raise SystemExit("/tablet/start does not offer the bench group")
    where, page = tablet.post("/tablet/start", {"csrf_token": csrf_token(form, "/tablet/start"),
                                                "group_id": str(group_id)})
    if where != "/tablet/" or list_marker not in page:
        raise SystemExit(f"starting tablet mode ended on {where}, not the household list")
    # The list stores the CSRF token in the session once; after that the cookie stays put
    # (otherwise every request under load would be a new session).
    for attempt in range(3):
        before = tablet.cookie("session")
        tablet.get("/tablet/")
        if attempt and tablet.cookie("session") == before:
            return tablet
    raise SystemExit("the session cookie keeps changing between loads of the list")


def start_turn(tablet: Tablet, household_id: int, order_marker: str) -> None:
    """A resident taps their flat and types their PIN: the turn cookie is set."""
    _, page = tablet.get("/tablet/")
    where, page = tablet.post("/tablet/household", {
        "csrf_token": csrf_token(page, "/tablet/"), "household_id": str(household_id)})
    if where != "/tablet/pin":
        raise SystemExit(f"tapping the flat ended on {where}, not the PIN page")
    where, page = tablet.post("/tablet/pin", {
        "csrf_token": csrf_token(page, "/tablet/pin"), "household_id": str(household_id),
        "pin": PIN})
    if (where != "/tablet/order" or order_marker not in page
            or tablet.cookie("bulkbuy_turn") is None):
        raise SystemExit(f"the PIN ended on {where} without the pledge screen and a turn")


# --- what a tablet downloads --------------------------------------------------------------


class _Resources(HTMLParser):
    """Every URL a page makes the browser fetch: stylesheets, icons, scripts, images."""

    LINK_RELS = {"stylesheet", "icon", "apple-touch-icon", "preload", "modulepreload",
                 "manifest", "mask-icon"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.names_icon = False
        #: Images named only with loading="lazy": a browser fetches them when they come
        #: near the screen, not for its first screen (an image named eagerly too is not).
        self.lazy: set[str] = set()
        self.eager: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        rels = set(a.get("rel", "").lower().split())
        if tag == "link" and rels & self.LINK_RELS:
            self.urls.append(a.get("href", ""))
            self.names_icon = self.names_icon or "icon" in rels
        elif tag in ("script", "img", "iframe", "embed", "audio", "video", "track") \
                or (tag == "input" and a.get("type", "").lower() == "image"):
            self.urls.append(a.get("src", ""))
            lazy = tag in ("img", "iframe") and a.get("loading", "").lower() == "lazy"
            (self.lazy if lazy else self.eager).add(a.get("src", ""))
        if tag in ("img", "source") and a.get("srcset"):
            self.urls.append(a["srcset"].split(",")[0].split()[0])
        if tag == "video" and a.get("poster"):
            self.urls.append(a["poster"])
        if tag == "object" and a.get("data"):
            self.urls.append(a["data"])


CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


@dataclass
class Fetched:
    path: str
    status: int
    sent: int  # body bytes as sent (compressed, if the server compressed)
    headers: int  # the status line and response headers
    encoding: str
    gzip: int  # what gzip -6 would have made of it (or `sent`, if already compressed)
    cache_control: str
    location: str = ""
    lazy: bool = False  # only named by <img loading="lazy">: not on the first screen


@dataclass
class Weight:
    page: Fetched
    files: list[Fetched] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    names_icon: bool = False

    @property
    def sent(self) -> int:
        return self.page.sent + sum(f.sent for f in self.files)

    @property
    def first_screen(self) -> int:
        """The page and what it loads for its first screen: everything but the images
        it names only with loading="lazy" (fetched as they come near the screen)."""
        return self.page.sent + sum(f.sent for f in self.files if not f.lazy)

    @property
    def first_screen_gzip(self) -> int:
        return self.page.gzip + sum(f.gzip for f in self.files if not f.lazy)

    @property
    def pictures(self) -> list[Fetched]:
        return [f for f in self.files if f.path.startswith("/pictures/")]

    @property
    def gzip(self) -> int:
        return self.page.gzip + sum(f.gzip for f in self.files)

    @property
    def headers(self) -> int:
        return self.page.headers + sum(f.headers for f in self.files)


def fetch_raw(port: int, path: str, cookie: str) -> tuple[Fetched, bytes]:
    """GET without following redirects or decoding, as a browser's first visit would."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers={**BROWSER_HEADERS, "Cookie": cookie})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    headers = len(f"HTTP/1.1 {response.status} {response.reason}\r\n\r\n") + sum(
        len(f"{name}: {value}\r\n") for name, value in response.getheaders())
    encoding = response.getheader("Content-Encoding", "") or ""
    if encoding == "gzip":
        plain = gzip.decompress(body)
    elif encoding in ("", "identity"):
        plain = body
    else:
        raise SystemExit(f"{path}: Content-Encoding {encoding!r}, which the bench cannot read")
    fetched = Fetched(path, response.status, len(body), headers, encoding or "none",
                      len(body) if encoding else len(gzip.compress(body, 6)),
                      response.getheader("Cache-Control", "") or "(none)",
                      response.getheader("Location", "") or "")
    return fetched, plain


def weigh(port: int, path: str, cookie: str, marker: str) -> Weight:
    """The page and every file it loads (and the CSS's own url()s), each once."""
    page, html = fetch_raw(port, path, cookie)
    if page.status != 200 or marker.encode() not in html:
        harness.fail(f"weighing {path}: {page.status} without the full page")
    weight = Weight(page)
    base = f"http://{HOST}:{port}{path}"
    parser = _Resources()
    parser.feed(html.decode(errors="replace"))
    queue = [(base, u) for u in parser.urls if u]
    lazy = parser.lazy - parser.eager
    seen: set[str] = set()
    while queue:
        referrer, url = queue.pop(0)
        if url.startswith("data:"):
            continue
        absolute = urllib.parse.urljoin(referrer, url)
        parts = urllib.parse.urlsplit(absolute)
        if (parts.hostname, parts.port) != (HOST, port):
            weight.external.append(absolute)
            continue
        wanted = parts.path + (f"?{parts.query}" if parts.query else "")
        if wanted in seen:
            continue  # a cold cache still fetches each file only once
        seen.add(wanted)
        fetched, body = fetch_raw(port, wanted, cookie)
        fetched.lazy = referrer == base and url in lazy
        weight.files.append(fetched)
        if fetched.status != 200:
            harness.fail(f"{path} loads {wanted}, which answered {fetched.status}")
        if wanted.split("?")[0].endswith(".css"):
            for match in CSS_URL.finditer(body.decode(errors="replace")):
                queue.append((absolute, match.group(1) or match.group(2)))
    weight.names_icon = parser.names_icon
    return weight


def favicon(port: int, cookie: str) -> list[Fetched]:
    """What a browser gets for the /favicon.ico it asks for when a page names no icon
    (it follows redirects, sending the page's cookies)."""
    chain, path = [], "/favicon.ico"
    while len(chain) < 5:
        fetched, _ = fetch_raw(port, path, cookie)
        chain.append(fetched)
        if fetched.status not in (301, 302, 303, 307, 308) or not fetched.location:
            break
        target = urllib.parse.urlsplit(urllib.parse.urljoin(f"http://{HOST}:{port}/",
                                                            fetched.location))
        if (target.hostname, target.port) != (HOST, port):
            break
        path = target.path + (f"?{target.query}" if target.query else "")
    return chain


def describe(name: str, weight: Weight) -> None:
    pictures = weight.pictures
    files = ", ".join([f"{f.path} {f.sent:,}" for f in weight.files if f not in pictures]
                      + ([f"{len(pictures)} pictures {sum(f.sent for f in pictures):,} "
                          f"({sum(1 for f in pictures if f.lazy)} of them loading=lazy, "
                          f"{sum(f.sent for f in pictures if f.lazy):,} bytes)"]
                         if pictures else [])) or "none"
    encodings = sorted({weight.page.encoding, *(f.encoding for f in weight.files)})
    compressed = ("not compressed by the app" if encodings == ["none"]
                  else f"Content-Encoding {'/'.join(encodings)}")
    say(f"{name} weight, cold cache: page {weight.page.sent:,} + files ({files}) = "
        f"{weight.sent:,} bytes of bodies as sent, plus {weight.headers:,} of response "
        f"headers; {compressed}; with gzip it would be {weight.gzip:,}; first screen "
        f"(all but the loading=lazy images) {weight.first_screen:,}, with gzip "
        f"{weight.first_screen_gzip:,}")
    statics = sorted({f.cache_control for f in weight.files})
    say(f"  page Cache-Control: {weight.page.cache_control}; files' Cache-Control: "
        f"{', '.join(statics) or '-'}")
    if weight.external:
        say(f"  also loads from elsewhere (not counted): {', '.join(weight.external)}")


# --- another language ----------------------------------------------------------------------


#: The language measured besides English (the right-to-left one), and how much slower
#: than English its pages may be (bench/round_page.py's target too).
OTHER_LANGUAGE = "ur"
LANGUAGE_TOLERANCE = 0.10


def html_opening(code: str) -> str:
    from bulkbuy import i18n

    return f'<html lang="{code}" dir="{i18n.direction(code)}"'


def check_language(port: int, path: str, cookie: str, code: str, what: str) -> None:
    """The page must really be in `code`: `<html lang="ur" dir="rtl"`."""
    fetched, html = fetch_raw(port, path, cookie)
    if fetched.status != 200 or html_opening(code).encode() not in html:
        found = re.search(rb"<html[^>]*>", html)
        harness.fail(f"{what}: {path} answered {fetched.status} with "
                     f"{found.group(0).decode() if found else 'no <html>'}, not "
                     f"{html_opening(code)}")


def pick_language(tablet: Tablet, code: str, list_marker: str) -> None:
    """A resident taps their language on the household list (POST /tablet/language with
    the list's CSRF token), as a tablet does: the list comes back in it."""
    _, page = tablet.get("/tablet/")  # (ends any turn still open, and its language)
    where, page = tablet.post("/tablet/language", {
        "csrf_token": csrf_token(page, "/tablet/"), "lang": code})
    if where != "/tablet/" or list_marker not in page:
        raise SystemExit(f"picking {code} ended on {where}, not the household list")
    if html_opening(code) not in page:
        raise SystemExit(f"after picking {code} the list is not {html_opening(code)}")


# --- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_database_arguments(parser)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per page")
    parser.add_argument("--products", type=int, default=40, help="products in the open round")
    args = parser.parse_args()
    if not 1 <= args.duration <= 300:
        parser.error("--duration must be between 1 and 300 seconds")
    if not 1 <= args.products <= 200:
        parser.error("--products must be between 1 and 200")

    harness.stop_on_signals()

    stored: list[Path] = []  # the bench's pictures, taken away at the end
    folder_was_there = picture_folder().exists()
    with tempfile.TemporaryDirectory(prefix="bulkbuy-bench-tablet-") as tmp:
        workdir = Path(tmp)
        try:
            url = harness.database_url(args, workdir)
            data = build_database(url, args.products, stored)

            env = harness.app_environment(url, TABLET_IDLE_SECONDS=IDLE_SECONDS)
            list_marker = f">{data.last_tile_label}<"  # the last tile: the list is all there
            order_marker = f'id="item-{data.last_item_id}"'  # the last product
            port = harness.start_gunicorn("wsgi:app", env, workdir / "app.log",
                                          pythonpath=ROOT)
            tablet = start_tablet(port, data.group_id, list_marker)

            # The list, with no resident's turn open (showing it then writes nothing).
            cookie = tablet.cookie_header("session", "bulkbuy_tablet")
            check_language(port, "/tablet/", cookie, "en", "household list")
            list_weight = weigh(port, "/tablet/", cookie, list_marker)
            describe("household list", list_weight)
            headers = {"Cookie": cookie, "User-Agent": USER_AGENT}
            list_rps = harness.measure("household list", port, "/tablet/", headers,
                                       list_marker, args.duration, workdir)

            # The pledge screen, during a turn of its own (the list ends any open turn).
            start_turn(tablet, data.bench_household_id, order_marker)
            cookie = tablet.cookie_header("session", "bulkbuy_tablet", "bulkbuy_turn")
            check_language(port, "/tablet/order", cookie, "en", "pledge screen")
            order_weight = weigh(port, "/tablet/order", cookie, order_marker)
            describe("pledge screen", order_weight)
            headers = {"Cookie": cookie, "User-Agent": USER_AGENT}
            order_rps = harness.measure("pledge screen", port, "/tablet/order", headers,
                                        order_marker, args.duration, workdir)
            if not (list_weight.names_icon and order_weight.names_icon):
                # Last, as following it may end the turn: what a browser gets for the icon.
                chain = favicon(port, cookie)
                extra = sum(f.sent for f in chain)
                after, _ = fetch_raw(port, "/tablet/order", cookie)
                steps = " then ".join(f"{f.path} {f.status}"
                                      + (f" to {f.location}" if f.location else "")
                                      + f" ({f.sent:,} bytes)" for f in chain)
                say(f"favicon: the pages name no icon, so a browser also asks for /favicon.ico: "
                    f"{steps}; {extra:,} bytes more a page, not counted in the bytes line "
                    f"(list {list_weight.sent + extra:,}, pledge screen "
                    f"{order_weight.sent + extra:,} with it); the pledge screen after it: "
                    f"{after.status}{' to ' + after.location if after.location else ''}"
                    + (" (that request ended the resident's turn)" if after.status != 200
                       else ""))

            # The same two pages in Urdu, picked on the list as a resident does: the list
            # (the pick is kept in the tablet's session until a turn starts with it), then
            # a turn started after the pick, whose pledge screen is in it.
            other = OTHER_LANGUAGE
            pick_language(tablet, other, list_marker)
            cookie = tablet.cookie_header("session", "bulkbuy_tablet")
            check_language(port, "/tablet/", cookie, other, f"household list ({other})")
            other_list_weight = weigh(port, "/tablet/", cookie, list_marker)
            describe(f"household list ({other})", other_list_weight)
            headers = {"Cookie": cookie, "User-Agent": USER_AGENT}
            other_list_rps = harness.measure(f"household list ({other})", port, "/tablet/",
                                             headers, list_marker, args.duration, workdir)
            check_language(port, "/tablet/", cookie, other, f"household list ({other}), after")
            start_turn(tablet, data.bench_household_id, order_marker)
            cookie = tablet.cookie_header("session", "bulkbuy_tablet", "bulkbuy_turn")
            check_language(port, "/tablet/order", cookie, other, f"pledge screen ({other})")
            other_order_weight = weigh(port, "/tablet/order", cookie, order_marker)
            describe(f"pledge screen ({other})", other_order_weight)
            headers = {"Cookie": cookie, "User-Agent": USER_AGENT}
            other_order_rps = harness.measure(f"pledge screen ({other})", port,
                                              "/tablet/order", headers, order_marker,
                                              args.duration, workdir)
            check_language(port, "/tablet/order", cookie, other,
                           f"pledge screen ({other}), after")

            if (workdir / "app.log").stat().st_size:
                say(f"app log:\n{harness.tail(workdir / 'app.log')}")
            harness.stop_servers()

            hello_rps = harness.hello_rps(env, workdir, args.duration)
        finally:
            harness.stop_servers()
            for path in stored:  # only the files this run added: others' stay
                path.unlink(missing_ok=True)
            if stored:
                say(f"pictures: the {len(stored)} this run stored in "
                    f"{stored[0].parent} taken away again")
            if not folder_was_there:
                try:
                    picture_folder().rmdir()  # only if empty: nobody else's went there
                except OSError:
                    pass

    list_ratio = harness.ratio(list_rps, hello_rps)
    order_ratio = harness.ratio(order_rps, hello_rps)
    status = harness.report_failures()
    met = {True: "met", False: "NOT met"}
    say(f"target ratio >= {TARGET_RATIO:.2f}: list {met[list_ratio >= TARGET_RATIO]}, "
        f"pledge screen {met[order_ratio >= TARGET_RATIO]}")
    weights = {"list": list_weight, "pledge screen": order_weight,
               f"list ({other})": other_list_weight,
               f"pledge screen ({other})": other_order_weight}
    strict_met = all(w.sent < TARGET_BYTES for w in weights.values())
    say(f"target under {TARGET_BYTES // 1000} kB a page (cold cache, pictures at the "
        f"tablet's size), judged on everything the page names: "
        + ", ".join(f"{name} {w.sent:,} {met[w.sent < TARGET_BYTES]}"
                    for name, w in weights.items()))
    say("  first screen only (the page, its CSS and JS, and the images not marked "
        "loading=lazy): "
        + ", ".join(f"{name} {w.first_screen:,} {met[w.first_screen < TARGET_BYTES]}"
                    for name, w in weights.items())
        + ("" if strict_met else
           "; the strict figure is over the target, so both are given: the target is "
           "met for the first screen only"
           if all(w.first_screen < TARGET_BYTES for w in weights.values()) else
           "; over the target even for the first screen"))
    say(f"tablet_list_first_screen_bytes={list_weight.first_screen} "
        f"tablet_order_first_screen_bytes={order_weight.first_screen}")
    list_to_english = harness.ratio(other_list_rps, list_rps)
    order_to_english = harness.ratio(other_order_rps, order_rps)
    within = min(list_to_english, order_to_english) >= 1 - LANGUAGE_TOLERANCE
    say(f"tablet_language={other} list_rps={other_list_rps:.1f} "
        f"order_rps={other_order_rps:.1f} list_ratio_to_english={list_to_english:.3f} "
        f"order_ratio_to_english={order_to_english:.3f} "
        f"list_bytes={other_list_weight.sent} order_bytes={other_order_weight.sent} "
        f"within_{LANGUAGE_TOLERANCE:.0%}={'yes' if within else 'NO'}")
    say(f"tablet_list_bytes={list_weight.sent} tablet_order_bytes={order_weight.sent}")
    say(harness.ratio_line("tablet_list", list_rps, hello_rps))
    say(harness.ratio_line("tablet_order", order_rps, hello_rps))  # last: see the docstring
    return status


if __name__ == "__main__":
    harness.run_main(main)
