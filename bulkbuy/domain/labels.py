"""What a household is called: one clean form to show, and one key to compare.

Two households of a group may not have names that only look different: "Flat 15"
typed with a zero-width space, a no-break space, a Cyrillic "а" for "a", or as
"FLAT 15" is the same name. The name is kept as typed (cleaned); the key, stored
beside it under a unique index, is what is compared.
"""

from __future__ import annotations

import re
import unicodedata

#: Letters of other alphabets drawn like Latin ones (a few of Unicode's confusables,
#: those a keyboard in Greek or Cyrillic gives), mapped to the Latin letter they
#: look like. Applied after case folding, so lower case is enough.
_LOOK_ALIKE = str.maketrans({
    # Greek (lower case after folding)
    "α": "a", "β": "b", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "μ": "u",
    "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c",
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
})
_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")


def clean_label(text: str) -> str:
    """The name as we keep and show it: Unicode's compatibility form (NFKC), with
    invisible format characters (zero-width spaces and joiners, soft hyphens,
    direction marks) removed and every run of spaces of any kind made one space."""
    normal = unicodedata.normalize("NFKC", text or "")
    visible = "".join(ch for ch in normal if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def label_key(text: str) -> str:
    """What two names are compared by: the clean name, case-folded (for every
    alphabet, not only A-Z), with look-alike Greek and Cyrillic letters read
    as the Latin ones they resemble."""
    folded = unicodedata.normalize("NFKC", clean_label(text).casefold())
    return folded.translate(_LOOK_ALIKE)


_NUMBERS = re.compile(r"(\d+)")


def natural_key(label: str) -> tuple:
    """What lists of households are sorted by: numbers compared as numbers ("Flat 2"
    before "Flat 10"), the words between them as label_key compares them (case-folded,
    look-alikes read as Latin).

    The key alternates the text between numbers and, for each run of digits, its value
    with the digits as written (so "Flat 02" and "Flat 2" differ, as their label_keys
    do). Two labels have equal keys exactly when their label_keys are equal, and any two
    keys compare: a total order.
    """
    parts = _NUMBERS.split(label_key(label))
    return tuple(part if index % 2 == 0 else (int(part), part)
                 for index, part in enumerate(parts))


def mixed_alphabet_word(text: str) -> str | None:
    """The first word that mixes Latin, Greek or Cyrillic letters (as a disguised
    name would, "Flаt" with a Cyrillic "а"), or None. Words in one alphabet each
    ("Flat 3 (Анна)") are fine."""
    for word in clean_label(text).split():
        scripts = {_script(ch) for ch in word if ch.isalpha()} - {None}
        if len(scripts) > 1:
            return word
    return None


def _script(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    return next((script for script in _SCRIPTS if name.startswith(script)), None)
