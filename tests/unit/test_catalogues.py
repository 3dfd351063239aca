"""The language catalogues are whole and up to date with the code.

Fails when a catalogue (bulkbuy/translations/<code>/LC_MESSAGES/messages.po) lacks a
message the code has, keeps one the code no longer has (stale), changes a placeholder,
leaves words a resident reads untranslated (or fuzzy), or when the compiled catalogue the
app reads (messages.mo) is not the .po's. `make translations` brings the catalogues up to
date; README.md, "Translations", says how a volunteer translator fills them in.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bulkbuy import i18n
from tests.unit.test_translatable import catalogue

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "bulkbuy" / "translations"
LANGUAGES = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]

#: Where words only organisers and site admins read are found. A message found only in
#: these may wait for its translation (the page falls back to English); every other
#: message is read by residents, on the tablet, in e-mails or on slips, and must be
#: translated in every language.
ORGANISERS_ONLY = (
    "bulkbuy/templates/organiser/", "bulkbuy/templates/admin/", "bulkbuy/organiser/",
    "bulkbuy/admin/", "bulkbuy/services/organising.py", "bulkbuy/services/catalogue.py",
    "bulkbuy/services/settlement.py", "bulkbuy/services/packing.py",
    "bulkbuy/services/spare.py", "bulkbuy/services/staff.py",
    "bulkbuy/services/household_admin.py", "bulkbuy/services/audit_log.py",
    "bulkbuy/services/collection.py", "bulkbuy/cli.py", "bulkbuy/demo.py",
)

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


@cache
def po(code: str):
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file, locale=code)


def _key(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _forms(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) \
        else [message.string]


def _translated(message) -> bool:
    return all(_forms(message)) and "fuzzy" not in message.flags


def test_there_is_a_catalogue_for_every_language_offered():
    for code in LANGUAGES:
        assert (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").is_file(), code


@pytest.mark.parametrize("code", LANGUAGES)
def test_a_catalogue_has_every_message_of_the_code_and_no_stale_one(code):
    in_code = set(catalogue())
    in_catalogue = {_key(m) for m in po(code) if m.id}
    missing = sorted(in_code - in_catalogue)
    stale = sorted(in_catalogue - in_code)
    assert not missing, f"{code}: missing {len(missing)} (run make translations): {missing[:5]}"
    assert not stale, f"{code}: stale {len(stale)} (run make translations): {stale[:5]}"
    assert not po(code).obsolete, f"{code}: obsolete #~ entries left (make translations)"


def test_the_template_is_the_codes_messages():
    with (TRANSLATIONS / "messages.pot").open("rb") as file:
        template = {_key(m) for m in read_po(file) if m.id}
    assert template == set(catalogue()), "messages.pot is out of date: run make translations"


@pytest.mark.parametrize("code", LANGUAGES)
def test_translations_keep_the_placeholders(code):
    wrong = []
    for message in po(code):
        if not message.id or not _translated(message):
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = set(PLACEHOLDER.findall(" ".join(ids)))
        for form in _forms(message):
            found = set(PLACEHOLDER.findall(form))
            # A plural form may leave out the count ("one tin" needs no %(num)s).
            if not found <= wanted or (not message.pluralizable and found != wanted):
                wrong.append((_key(message)[:60], form[:60]))
    assert not wrong, f"{code}: placeholders differ: {wrong[:5]}"


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_word_a_resident_reads_is_translated(code):
    untranslated = [
        _key(m) for m in po(code)
        if m.id and not _translated(m)
        and not all(path.startswith(ORGANISERS_ONLY) for path, _line in m.locations)
    ]
    assert not untranslated, (
        f"{code}: {len(untranslated)} resident-facing messages untranslated or fuzzy: "
        f"{untranslated[:5]}")


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_compiled_catalogue_is_the_po(code):
    """messages.mo is what the app reads: it must hold exactly the .po's translations
    (`make translations` compiles it)."""
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo").open("rb") as file:
        compiled = {_key(m): tuple(_forms(m)) for m in read_mo(file) if m.id}
    expected = {_key(m): tuple(_forms(m)) for m in po(code) if m.id and _translated(m)}
    assert compiled == expected, f"{code}: messages.mo is stale: run make translations"


@pytest.mark.parametrize("code", LANGUAGES)
def test_each_catalogue_is_marked_as_awaiting_a_native_speakers_review(code):
    """Until a native speaker has read it: then they replace the mark with their name."""
    header = po(code).header_comment
    assert "AWAITING REVIEW BY A NATIVE SPEAKER" in header or "Reviewed by" in header
