"""A small in-process cache for rendered pages (and what they are made from).

Keys are the version numbers the database bumps whenever what a page shows changes
(migration 0008's triggers and pledges.lock_open_round), plus who and what is asked
for (the round, group, household, user, locale), and nothing else:

- round page of an open round, for a member with a household, in two parts put
  together on each request (resident.routes.round_page):
  - the shared part (last calls and product cards: names, pictures, prices, how full
    each box is), the same for every household: rounds.version, rounds.pledge_version,
    groups.settings_version, the round's count of last calls and the drop-in times, with
    the round and the locale; the household's own numbers are slots in it (`Slotted`),
    filled from its pledges, which the key's query reads too;
  - the page around it, per viewer: the same key without rounds.pledge_version and the
    count of last calls (nothing else on it changes with a pledge);
- round page otherwise (a round not open yet, a member without a household):
  rounds.version, rounds.pledge_version, groups.settings_version, the
  round's count of last calls, with the round, the member (role, household), the viewer
  and the locale; and the drop-in times it lists, worked out from the group's drop-in
  sessions at each request (so one added, removed or ended changes the key);
- tablet household list: groups.households_version, with the group and the locale;
- tablet pledge screen (its open rounds): each open round's version and
  pledge_version, groups.settings_version and groups.households_version, with the
  household and the locale;
- a round's products and totals (round_view.round_board), and what it would come to
  if it closed now (round_view.round_likely): rounds.version and rounds.pledge_version;
- what one product would come to (round_view.round_likely): round_items.pledge_version
  (bumped by migration 0028's triggers on any change to its pledge lines) and
  rounds.version.

A version is read before (or with) what is rendered under it, so an entry is never
older than its key, and a stale entry can never be served; old entries simply stop
being asked for and fall out of the LRU. Each worker process has its own cache.
`FRAGMENT_CACHE = False` in the settings turns every cache off (pages are then rendered
the same way, just every time).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from flask import current_app, has_app_context
from markupsafe import Markup

#: Stands in for the CSRF token in cached HTML; replaced on every response.
CSRF_PLACEHOLDER = "\x00csrf-token\x00"


#: Stands in for the shared part of the round page in its per-viewer part.
SHARED_PLACEHOLDER = "\x00shared-part\x00"

#: Marks a slot in kept HTML: SLOT + "kind:id" + SLOT (`slot`, `Slotted`).
SLOT = "\x02"


def slot(kind: str, item_id: int) -> Markup:
    """The mark of one slot in HTML to be kept: filled on each request (`Slotted.fill`)."""
    return Markup(f"{SLOT}{kind}:{int(item_id)}{SLOT}")  # noqa: S704 - no outside text


@dataclass(frozen=True)
class Slotted:
    """Kept HTML cut at its slots, each holding what it says for a household with nothing
    pledged for its product; `slots` says where each product's are (piece index, kind).
    Filling is a join, no template, and touches only the products a household pledged
    for."""

    pieces: tuple[str, ...]
    slots: dict[int, tuple[tuple[int, str], ...]]

    @classmethod
    def cut(cls, html: str, empty: dict[str, str]) -> Slotted | None:
        """`html` cut at its slots, each filled with `empty[kind]`; None when a mark is
        not a slot of one of those kinds (text holding the mark's character itself):
        such HTML is not kept."""
        pieces = html.split(SLOT)
        if len(pieces) % 2 == 0:
            return None
        slots: dict[int, list[tuple[int, str]]] = {}
        for index in range(1, len(pieces), 2):
            kind, _, item_id = pieces[index].partition(":")
            if kind not in empty or not item_id.isdigit():
                return None
            slots.setdefault(int(item_id), []).append((index, kind))
            pieces[index] = empty[kind]
        return cls(pieces=tuple(pieces),
                   slots={item_id: tuple(found) for item_id, found in slots.items()})

    def fill(self, own: dict[int, tuple[int, int]], value) -> str:
        """The HTML with the slots of each product in `own` ({item id: (quantity,
        tolerance)}) holding `value(kind, quantity, tolerance)`."""
        if not own:
            return "".join(self.pieces)
        pieces = list(self.pieces)
        for item_id, (quantity, tolerance) in own.items():
            for index, kind in self.slots.get(item_id, ()):
                pieces[index] = value(kind, quantity, tolerance)
        return "".join(pieces)


def without_indentation(html: str) -> str:
    """The same HTML without leading spaces or blank lines (fewer bytes to send).

    Only for pages with no <pre> or <textarea>, where such spaces would show.
    """
    if "<pre" in html or "<textarea" in html:
        return html
    return "\n".join(line for line in (raw.lstrip() for raw in html.splitlines()) if line)


def enabled() -> bool:
    """Whether kept pages are used (the FRAGMENT_CACHE setting, on unless set false)."""
    return not has_app_context() or current_app.config.get("FRAGMENT_CACHE", True) is not False


#: What a kept value that is not text is counted as, in bytes (see `size_of`).
OTHER_BYTES = 64


def size_of(value) -> int:
    """About how much memory a kept value holds, in bytes: its strings as Python keeps
    them (`sys.getsizeof`: one byte a character for ASCII, two or four for Urdu), through
    tuples, lists and `Slotted`; anything else OTHER_BYTES. Kept pages are nearly all
    text, so this is what their budget counts."""
    if isinstance(value, str):
        return sys.getsizeof(value)
    if isinstance(value, tuple | list):
        return sys.getsizeof(value) + sum(size_of(part) for part in value)
    if isinstance(value, Slotted):
        return size_of(value.pieces) + OTHER_BYTES * len(value.slots)
    return OTHER_BYTES


class FragmentCache:
    """A least-recently-used cache of at most `max_entries` entries and, when
    `max_bytes` is given, of values holding at most that many bytes (`size_of`); a value
    larger than that alone is not kept. Safe to share between a process's threads."""

    def __init__(self, max_entries: int = 512, max_bytes: int | None = None):
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._bytes = 0
        self._max = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        if not enabled():
            return None
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value) -> None:
        if not enabled():
            return
        size = size_of(value) if self._max_bytes is not None else 0
        with self._lock:
            self._forget(key)
            if self._max_bytes is not None and size > self._max_bytes:
                return
            self._entries[key] = value
            self._sizes[key] = size
            self._bytes += size
            while len(self._entries) > self._max or (
                    self._max_bytes is not None and self._bytes > self._max_bytes):
                self._forget(next(iter(self._entries)))

    def _forget(self, key: Hashable) -> None:
        if key in self._entries:
            del self._entries[key]
            self._bytes -= self._sizes.pop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._bytes = 0

    @property
    def bytes_held(self) -> int:
        """What the kept values hold, by `size_of` (0 when no byte budget is set)."""
        return self._bytes


MIB = 1024 * 1024
# Each worker process holds these; a 10-minute soak under 200 people (bench/load.py)
# showed an entry count alone let kept pages grow a worker by 100 MiB: every pledge
# makes a new shared part of about 100 kB, and old ones stayed until 1,024 entries.
#: The round page, per viewer: whole, or (open rounds) the part around the shared part.
round_pages = FragmentCache(max_entries=1024, max_bytes=24 * MIB)
#: The round page's shared parts (a `Slotted` each), per round, versions and locale: only
#: the newest pledge_version of each open round is asked for, so a few are enough.
shared_parts = FragmentCache(max_entries=64, max_bytes=12 * MIB)
#: The tablet's household list, per group (see tablet.routes.households).
tablet_lists = FragmentCache(max_entries=64, max_bytes=4 * MIB)
#: The open rounds' part of the tablet's pledge screen, per household and versions
#: (tablet.routes.order): reused within a turn, rarely after it (a pledge anywhere in
#: the round changes its key).
tablet_orders = FragmentCache(max_entries=128, max_bytes=8 * MIB)
#: A round's products and totals, per version and pledge_version (round_view.round_board).
round_boards = FragmentCache(max_entries=64)
#: What one product of an open round would come to, per product, its pledge_version and
#: the round's version (round_view.round_likely): 40 products of a few open rounds. (Not
#: text: counted by entries, each some kB to some tens of kB as its lines grow.)
item_outcomes = FragmentCache(max_entries=160)

#: Every cache above (web.py clears them all when the app starts).
ALL = (round_pages, shared_parts, tablet_lists, tablet_orders, round_boards, item_outcomes)
