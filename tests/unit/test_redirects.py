"""Only paths on this site are followed after sign-in or saving a card."""

import pytest

from bulkbuy.redirects import same_site_path

FALLBACK = "/my-orders"


@pytest.mark.parametrize("target", ["/", "/rounds/3", "/rounds/3?tab=pledges#top",
                                    "/groups/2/pin", "/a/b/../c"])
def test_a_path_on_this_site_is_followed(target):
    assert same_site_path(target, FALLBACK) == target


@pytest.mark.parametrize("target", [
    None, "", "rounds/3", "https://evil.example/", "//evil.example/", "///evil.example/",
    "/\\evil.example/", "\\\\evil.example/", "/x\\..\\\\evil.example/",
    "/\t/evil.example/", "/\r/evil.example/", "/\n/evil.example/", "/\x00/evil.example/",
    "/\x7f/x", " //evil.example/", "javascript:alert(1)",
])
def test_anything_else_goes_to_the_fallback(target):
    assert same_site_path(target, FALLBACK) == FALLBACK
