"""Household names that only look different are the same name (domain/labels.py)."""

from hypothesis import given
from hypothesis import strategies as st

from bulkbuy.domain.labels import clean_label, label_key, mixed_alphabet_word

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
