"""The in-process cache of kept pages: least recently used out first, within a count of
entries and a budget of bytes, so a worker's memory stays flat however many versions
of a page go by."""

from __future__ import annotations

import sys

from bulkbuy.fragment_cache import OTHER_BYTES, FragmentCache, Slotted, size_of


def test_the_least_recently_used_entry_goes_first():
    cache = FragmentCache(max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # now "b" is the least recently used
    cache.put("c", "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")


def test_kept_values_never_hold_more_than_the_byte_budget():
    page = "x" * 1000
    budget = 3 * size_of(page)
    cache = FragmentCache(max_entries=100, max_bytes=budget)
    for version in range(50):  # a page kept per version, as pledges go by
        cache.put(("round", 1, version), page)
        assert cache.bytes_held <= budget
    assert len(cache._entries) == 3
    assert [key[2] for key in cache._entries] == [47, 48, 49]  # the newest stay


def test_a_value_kept_again_under_its_key_is_counted_once():
    cache = FragmentCache(max_entries=10, max_bytes=10_000)
    cache.put("k", "a" * 100)
    cache.put("k", "b" * 200)
    assert cache.bytes_held == size_of("b" * 200)
    assert cache.get("k") == "b" * 200


def test_a_value_larger_than_the_whole_budget_is_not_kept_and_drops_its_old_copy():
    cache = FragmentCache(max_entries=10, max_bytes=500)
    cache.put("k", "small")
    cache.put("k", "y" * 1000)
    assert cache.get("k") is None and cache.bytes_held == 0
    cache.put("other", "fits")
    assert cache.get("other") == "fits"


def test_clear_forgets_everything_and_its_bytes():
    cache = FragmentCache(max_entries=10, max_bytes=10_000)
    cache.put("a", "A" * 10)
    cache.clear()
    assert cache.get("a") is None and cache.bytes_held == 0


def test_sizes_count_text_as_python_keeps_it():
    assert size_of("abc") == sys.getsizeof("abc")
    urdu = "خریداری" * 10  # two bytes a character in memory
    assert size_of(urdu) == sys.getsizeof(urdu) > 2 * len(urdu)
    parts = ("<p>", "</p>")
    assert size_of(parts) == sys.getsizeof(parts) + size_of("<p>") + size_of("</p>")
    slotted = Slotted.cut("<b>\x02q:7\x02</b>", {"q": "0"})
    assert size_of(slotted) == size_of(slotted.pieces) + OTHER_BYTES
    assert size_of(object()) == OTHER_BYTES
