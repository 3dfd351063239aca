"""Household names that only look different are the same name (domain/labels.py)."""

from hypothesis import given
from hypothesis import strategies as st

from bulkbuy.domain.labels import clean_label, label_key, mixed_alphabet_word, natural_key

FLAT_15 = label_key("Flat 15")


def test_invisible_characters_and_odd_spaces_do_not_make_a_new_name():
    assert clean_label("Flat\u200b 15") == "Flat 15"
    assert clean_label("Flat\u00a015") == "Flat 15"
    assert clean_label("  Flat \u2003\t 15 ") == "Flat 15"
    assert clean_label("Fl\u00adat 15\u200f") == "Flat 15"
    for disguised in ("Flat\u200b 15", "Flat\u00a015", "FLAT 15", "flat  15", "Ｆｌａｔ １５"):
        assert label_key(disguised) == FLAT_15, disguised


def test_greek_and_cyrillic_look_alikes_are_read_as_latin():
    assert label_key("Flаt 15") == FLAT_15  # Cyrillic а
    assert label_key("ΕLM 3") == label_key("Elm 3")  # Greek capital Epsilon
    assert label_key("Οak 2") == label_key("oak 2")  # Greek capital Omicron


def test_case_folding_covers_every_alphabet_not_only_a_to_z():
    assert label_key("Ärmel 1") == label_key("ärmel 1")
    assert label_key("STRAẞE 4") == label_key("strasse 4")


def test_different_names_stay_different():
    assert label_key("Flat 15") != label_key("Flat 16")
    assert label_key("Ärmel 1") != label_key("Armel 1")
    assert label_key("Flat 3 (Анна)") != label_key("Flat 3 (Anna)")
    assert label_key("Flat 12 (Amina)") != FLAT_15


def test_a_word_mixing_alphabets_is_found_and_words_in_one_alphabet_are_not():
    assert mixed_alphabet_word("Flаt 15") == "Flаt"
    assert mixed_alphabet_word("Flat 3 (Анна)") is None
    assert mixed_alphabet_word("Flat 15") is None
    assert mixed_alphabet_word("Mieszkanie 4, Łódź") is None


@given(st.text(max_size=40))
def test_the_key_of_a_clean_name_is_the_key_of_the_name(text):
    assert label_key(clean_label(text)) == label_key(text)
    assert clean_label(clean_label(text)) == clean_label(text)


@given(st.text(max_size=40))
def test_a_clean_name_has_no_invisible_characters_or_runs_of_space(text):
    cleaned = clean_label(text)
    assert "  " not in cleaned and cleaned == cleaned.strip()
    assert "\u200b" not in cleaned and "\u00a0" not in cleaned


# --- sorting households naturally (natural_key) --------------------------------------------


def test_numbers_in_names_sort_as_numbers_not_as_text():
    names = ["Flat 10", "Flat 2", "Flat 1", "flat 3", "Flat 21", "Flat 100"]
    assert sorted(names, key=natural_key) == [
        "Flat 1", "Flat 2", "flat 3", "Flat 10", "Flat 21", "Flat 100"]
    assert natural_key("Flat 2") < natural_key("Flat 10")


def test_names_sort_by_their_words_before_their_numbers_and_ignore_case():
    names = ["Block B 2", "block a 10", "Block A 9", "Maisonette 1", "Flat 1b", "Flat 1a"]
    assert sorted(names, key=natural_key) == [
        "Block A 9", "block a 10", "Block B 2", "Flat 1a", "Flat 1b", "Maisonette 1"]


def test_names_that_are_the_same_name_have_the_same_sort_key():
    assert natural_key("FLAT 15") == natural_key("Flat\u00a015") == natural_key("Flаt 15")
    assert natural_key("Flat 02") != natural_key("Flat 2")


_NAMES = st.text(alphabet=st.sampled_from("Flat AB ab0129\u00a0\u0661"), max_size=12) | st.text(
    max_size=12)


@given(_NAMES, _NAMES)
def test_natural_key_is_equal_exactly_when_label_key_is(a, b):
    assert (natural_key(a) == natural_key(b)) == (label_key(a) == label_key(b))


@given(_NAMES, _NAMES, _NAMES)
def test_natural_key_is_a_total_order(a, b, c):
    ka, kb, kc = natural_key(a), natural_key(b), natural_key(c)
    assert (ka < kb) + (ka == kb) + (kb < ka) == 1  # any two compare, one way only
    if ka <= kb and kb <= kc:
        assert ka <= kc


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.text(alphabet="Flat Block", max_size=8))
def test_the_same_words_with_numbers_sort_by_the_numbers(m, n, words):
    assert (natural_key(f"{words} {m}") < natural_key(f"{words} {n}")) == (m < n)
