"""The people of bench/load.py, for locust: residents (80%), organisers (15%) and tablet
workers (5%), each waiting 2–5 s between pages, going through the real pages and forms
(CSRF tokens and all) as a browser would, without fetching static files (a browser keeps
them: they are fingerprinted and immutable).

Run by bench/load.py, never on its own: it reads the estate from the JSON file named by
$BENCH_LOAD_ESTATE, and writes every request it made (start time, page name, ms, ok) to
$BENCH_LOAD_RECORDS when locust stops. bench/load.py names the classes to run:
`Resident Organiser TabletWorker` (weights 80/15/5) for the app, `HelloUser` (bench/
hello_app.py's one page, under the same users and waits) for the baseline.

Each user sends an X-Forwarded-For address of its own (the app runs with
TRUSTED_PROXIES=1, as behind its reverse proxy), so the sign-in and PIN limits per
address count each person, not the whole load, as they would in production.

A response counts as an error when its status is not the one the page answers with
(200, or 302/303 for a form), when a page is the sign-in form instead of what was asked
for, or when its content lacks what the page must show.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time

from locust import HttpUser, SequentialTaskSet, between, events, task
from locust.exception import StopUser

WAIT = between(2, 5)
_estate: dict = {}
if os.environ.get("BENCH_LOAD_ESTATE"):
    with open(os.environ["BENCH_LOAD_ESTATE"]) as file:
        _estate = json.load(file)

#: Every request: (start time, name, response time in ms, ok, what was wrong or "").
_records: list[tuple[float, str, float, bool, str]] = []
_spawned_at: list[float] = []
_numbers = itertools.count()  # one network address per user
_residents = itertools.count()  # one household per resident
_organisers = itertools.count()  # accounts taken in turn: one sign-in each, as people do
_workers = itertools.count()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None,
            start_time=None, **_kwargs):
    _records.append((start_time or time.time(), name, response_time, exception is None,
                     "" if exception is None else str(exception)[:200]))


@events.spawning_complete.add_listener
def _spawned(user_count, **_kwargs):
    _spawned_at.append(time.time())


@events.quitting.add_listener
def _write(environment, **_kwargs):
    path = os.environ.get("BENCH_LOAD_RECORDS")
    if path:
        with open(path, "w") as file:
            json.dump({"spawned_at": _spawned_at[0] if _spawned_at else None,
                       "records": _records}, file)


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
ROUND_FORM = re.compile(r'<form method="post" action="(/rounds/\d+/items/\d+)"(.*?)</form>', re.S)
TABLET_FORM = re.compile(
    r'<form method="post" action="/tablet/pledge" class="tablet-stepper"[^>]*>(.*?)</form>',
    re.S)


def csrf_token(html: str) -> str | None:
    found = CSRF.search(html)
    return (found.group(1) or found.group(2)) if found else None


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    return found.group(1) if found else ""


class Browser(HttpUser):
    """What the three kinds of people share: an address of their own, a page that must
    be what was asked for, and a form that must answer with a redirect."""

    abstract = True
    wait_time = WAIT

    def on_start(self) -> None:
        number = next(_numbers)
        self.client.headers["X-Forwarded-For"] = f"10.{number // 65536 % 256}." \
                                                 f"{number // 256 % 256}.{number % 256}"
        self.client.headers["User-Agent"] = "bulkbuy-bench-load/1"

    def page(self, name: str, path: str, marker: str | None = None) -> str:
        """GET a page; it must be a 200, not the sign-in form, and carry `marker`."""
        with self.client.get(path, name=name, catch_response=True,
                             allow_redirects=False) as response:
            body = response.text or ""
            if response.status_code != 200:
                response.failure(f"{response.status_code} for {path}")
            elif marker is not None and marker not in body:
                response.failure(f"{path} lacks {marker!r}")
            else:
                response.success()
            return body

    def form(self, name: str, path: str, data: dict) -> str | None:
        """POST a form; it must answer 302/303. Returns where it sends the browser."""
        with self.client.post(path, data=data, name=name, catch_response=True,
                              allow_redirects=False) as response:
            location = response.headers.get("Location")
            if response.status_code not in (302, 303) or not location:
                limit = response.headers.get("X-RateLimit-Limit")
                response.failure(f"{response.status_code} for POST {path}"
                                 + (f" (limit {limit} a {self.__class__.__name__})"
                                    if limit else ""))
                return None
            if location.split("?")[0].endswith("/login"):
                response.failure(f"POST {path} sent the browser to sign in")
                return None
            response.success()
            return location

    def sign_in(self, email: str) -> None:
        form = self.page("sign-in form", "/login", 'name="csrf_token"')
        where = self.form("sign in (POST)", "/login", {
            "csrf_token": csrf_token(form) or "", "email": email,
            "password": _estate["password"]})
        if where is None:
            # This person cannot sign in: counted, and no further pages. (locust starts
            # another in their place: the wait keeps that from becoming a storm.)
            time.sleep(random.uniform(2, 5))
            raise StopUser
        self.page("home", where)


class Resident(Browser):
    """Signs in, then looks at home, the open round, presses + or − on products (the
    round page's own form: step and the number in the box), and looks at My orders."""

    weight = 80

    def on_start(self) -> None:
        super().on_start()
        self.sign_in(_estate["resident_email"].format(next(_residents) % _estate["residents"]))
        self.forms: list[tuple[str, str]] = []
        self.view_round()

    def _read_round(self, html: str) -> None:
        self.forms = [(action, body) for action, body in ROUND_FORM.findall(html)]

    @task(4)
    def view_round(self) -> None:
        html = self.page("round page", f"/rounds/{_estate['round_id']}",
                         _estate["round_marker"])
        self._read_round(html)

    @task(3)
    def press(self) -> None:
        if not self.forms:
            self.view_round()
            return
        action, body = random.choice(self.forms)
        step = "1" if random.random() < 0.6 else "-1"
        where = self.form("+/- on round page (POST)", action, {
            "csrf_token": field(body, "csrf_token"), "step": step,
            "quantity": field(body, "quantity"), "tolerance": field(body, "tolerance")})
        if where is not None:
            self._read_round(self.page("round page after +/-", where.split("#")[0],
                                       "Saved."))

    @task(1)
    def home(self) -> None:
        self.page("home", "/")

    @task(2)
    def my_orders(self) -> None:
        self.page("my orders", "/my-orders")


class Organiser(Browser):
    """Signs in, then looks at the group's dashboard, the round, and the households."""

    weight = 15

    def on_start(self) -> None:
        super().on_start()
        emails = _estate["organiser_emails"]
        self.sign_in(emails[next(_organisers) % len(emails)])
        self.group_id = _estate["group_id"]

    @task(2)
    def dashboard(self) -> None:
        self.page("organiser dashboard", f"/organise/{self.group_id}")

    @task(2)
    def round(self) -> None:
        self.page("organiser round", f"/organise/{self.group_id}/rounds/{_estate['round_id']}")

    @task(1)
    def households(self) -> None:
        self.page("organiser households", f"/organise/{self.group_id}/households")


class TabletTurn(SequentialTaskSet):
    """One resident's turn at the drop-in tablet: the list, their flat, their PIN, one
    tap on +, Done (and the thanks page)."""

    def on_start(self) -> None:
        self.html = ""

    @task
    def the_list(self) -> None:
        self.html = self.user.page("tablet list", "/tablet/", 'name="household_id"')

    @task
    def tap_flat(self) -> None:
        self.household = str(random.choice(_estate["household_ids"]))
        where = self.user.form("tablet tap flat (POST)", "/tablet/household", {
            "csrf_token": csrf_token(self.html) or "", "household_id": self.household})
        self.html = self.user.page("tablet PIN page", where, 'name="pin"') if where else ""

    @task
    def enter_pin(self) -> None:
        where = self.user.form("tablet PIN (POST)", "/tablet/pin", {
            "csrf_token": csrf_token(self.html) or "", "household_id": self.household,
            "pin": _estate["pin"]})
        self.html = self.user.page("tablet order", where, "tablet-stepper") if where else ""

    @task
    def tap_plus(self) -> None:
        forms = TABLET_FORM.findall(self.html)
        if not forms:  # the pledge screen changed under this script: say so, never skip
            if self.html:
                self.user.environment.events.request.fire(
                    request_type="CHECK", name="tablet + (POST)", response_time=0,
                    response_length=0, exception=Exception("no + form on the pledge screen"))
            return
        body = random.choice(forms)
        plus = re.findall(r'name="quantity" value="(\d+)"', body)
        where = self.user.form("tablet + (POST)", "/tablet/pledge", {
            "csrf_token": field(body, "csrf_token"), "item_id": field(body, "item_id"),
            "quantity": plus[-1] if plus else "1"})
        if where is not None:
            self.html = self.user.page("tablet order after +", where.split("#")[0], "Saved.")

    @task
    def done(self) -> None:
        where = self.user.form("tablet Done (POST)", "/tablet/done", {
            "csrf_token": csrf_token(self.html) or "", "reason": "done"})
        if where is not None:
            self.user.page("tablet thanks", where)


class TabletWorker(Browser):
    """A worker signs in and starts tablet mode for the group; residents then take turns."""

    weight = 5
    tasks = [TabletTurn]

    def on_start(self) -> None:
        super().on_start()
        emails = _estate["worker_emails"]
        self.sign_in(emails[next(_workers) % len(emails)])
        form = self.page("tablet start form", "/tablet/start", 'name="group_id"')
        where = self.form("tablet start (POST)", "/tablet/start", {
            "csrf_token": csrf_token(form) or "", "group_id": str(_estate["group_id"])})
        if where is None:
            raise StopUser


class HelloUser(HttpUser):
    """bench/hello_app.py's one page, with the same waits (the baseline)."""

    wait_time = WAIT

    @task
    def hello(self) -> None:
        with self.client.get("/", name="hello", catch_response=True) as response:
            if response.status_code != 200 or "Hello, World!" not in response.text:
                response.failure(f"{response.status_code} from hello-world")
