"""A small in-process cache for rendered pages (and what they are made from).

Keys are the version numbers the database bumps whenever what a page shows changes
(migration 0008's triggers and pledges.lock_open_round), plus who and what is asked
for (the round, group, household, user, locale), and nothing else:

- round page: rounds.version, rounds.pledge_version, groups.settings_version, the
  round's count of last calls, with the round, the member (role, household), the viewer
  and the locale; and the drop-in times it lists, worked out from the group's drop-in
  sessions at each request (so one added, removed or ended changes the key);
- tablet household list: groups.households_version, with the group and the locale;
- tablet pledge screen (its open rounds): each open round's version and
  pledge_version, groups.settings_version and groups.households_version, with the
  household and the locale;
- a round's products and totals (round_view.round_board): rounds.version and
  rounds.pledge_version.

A version is read before (or with) what is rendered under it, so an entry is never
older than its key, and a stale entry can never be served; old entries simply stop
being asked for and fall out of the LRU. Each worker process has its own cache.
`FRAGMENT_CACHE = False` in the settings turns every cache off (pages are then rendered
the same way, just every time).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from flask import current_app, has_app_context

#: Stands in for the CSRF token in cached HTML; replaced on every response.
CSRF_PLACEHOLDER = "\x00csrf-token\x00"


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


class FragmentCache:
    def __init__(self, max_entries: int = 512):
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._max = max_entries
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
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


round_pages = FragmentCache(max_entries=256)
#: The tablet's household list, per group (see tablet.routes.households).
tablet_lists = FragmentCache(max_entries=64)
#: The open rounds' part of the tablet's pledge screen, per household and versions
#: (tablet.routes.order).
tablet_orders = FragmentCache(max_entries=512)
#: A round's products and totals, per version and pledge_version (round_view.round_board).
round_boards = FragmentCache(max_entries=64)
