"""A small in-process cache for rendered pages (and what they are made from).

Keys must contain everything the page depends on (for the round page, see
resident.routes._page_key: the round's pledge_version, which every pledge
change bumps, its other fields, the user and the locale), so a stale entry
can never be served; old
entries simply stop being asked for and fall out of the LRU. Each worker
process has its own cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

#: Stands in for the CSRF token in cached HTML; replaced on every response.
CSRF_PLACEHOLDER = "\x00csrf-token\x00"


def without_indentation(html: str) -> str:
    """The same HTML without leading spaces or blank lines (fewer bytes to send).

    Only for pages with no <pre> or <textarea>, where such spaces would show.
    """
    if "<pre" in html or "<textarea" in html:
        return html
    return "\n".join(line for line in (raw.lstrip() for raw in html.splitlines()) if line)


class FragmentCache:
    def __init__(self, max_entries: int = 512):
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value) -> None:
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
#: One product on the tablet's pledge screen, per what it shows (tablet.routes._product_card):
#: a tap re-renders only the product tapped.
tablet_products = FragmentCache(max_entries=4096)
#: An open round's products and totals, per pledge_version (round_view.round_board).
round_boards = FragmentCache(max_entries=64)
