"""Every word a person reads can be translated: Babel's extractor finds it.

Runs the extraction `make translations` runs (babel.cfg over bulkbuy/), and two
heuristics that fail on words the extractor cannot see: text in a template that
is not inside `{{ _() }}` or `{% trans %}`, and a service refusing with words
that are not wrapped in `_l(...)` (or a translation function called on an f-string
or a variable, which no extractor can read).
"""

from __future__ import annotations

import ast
import html.parser
import re
from functools import cache
from pathlib import Path

import jinja2
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bulkbuy"
TEMPLATES = PACKAGE / "templates"
SERVICES = PACKAGE / "services"

#: Calls whose first argument is the words to translate (a literal, always).
TRANSLATING = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "N_"}

#: Words that are not translated: the product's name.
NAMES = re.compile(r"\bbulkbuy\b")
#: Text in a template that is not words to translate, by template.
NOT_WORDS = {
    # The CSV columns of a price list are the file's format, the same in any language.
    ("organiser/import.html", "name, unit, case_size, case_price, retail_price, code"),
}

LETTER = re.compile(r"[^\W\d_]")
#: Stands for a Jinja tag or expression in the text that is checked.
MARK = "\ue000"
#: Attributes people read (or hear).
READ_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}
#: `{% block body_attrs %} data-x="{{ y }}"{% endblock %}`: attributes outside a tag.
LOOSE_ATTRIBUTES = re.compile(r'(^|\s)[\w-]+="[^"]*"')


@cache
def catalogue() -> dict[str, list[str]]:
    """msgid -> the files it was found in, as `pybabel extract -F babel.cfg .` finds it."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, list[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, []).append(filename)
    return found


def test_the_extractor_finds_the_words_of_services_pages_and_emails():
    found = catalogue()
    # A service's refusal (ServiceError, lazily translated)
    assert "bulkbuy/services/rounds.py" in found["Choose a closing time within the next year."]
    assert "You can have up to %(n)s." in found
    # A form label given to a validator, and a validator's message
    assert "Receipt number" in found
    assert "%(label)s must be %(n)s characters or fewer" in found
    # The domain's words, marked where they are written (the caller passes gettext)
    assert "bulkbuy/domain/money.py" in found["Use a full stop for pence, like 12.50"]
    # A page
    assert "Your rounds" in found
    # The e-mails: their words are in their templates
    assert "bulkbuy/templates/email/round_results.txt" in found[
        "Your share of delivery: %(fee)s"]
    assert "bulkbuy/templates/email/round_failed.txt" in found[
        "Nobody pays anything, and nothing will be delivered."]


# --- templates ------------------------------------------------------------------------------

#: Only lexes templates (never renders), with the app's settings.
_env = jinja2.Environment(extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                          autoescape=True)


def _text_outside_jinja(source: str) -> str:
    """The template's own text, each tag and expression replaced by MARK, and what
    is inside {% trans %} ... {% endtrans %} left out (it is marked)."""
    out: list[str] = []
    in_trans = 0
    tag_name_next = False
    for _lineno, kind, value in _env.lex(source):
        if kind == "whitespace":
            continue
        if kind in ("block_begin", "variable_begin"):
            tag_name_next = kind == "block_begin"
            out.append(MARK)
            continue
        if tag_name_next and kind == "name":
            in_trans += {"trans": 1, "endtrans": -1}.get(value, 0)
        tag_name_next = False
        if kind == "data" and not in_trans:
            out.append(value)
    return "".join(out)


def _has_words(text: str) -> bool:
    text = NAMES.sub("", LOOSE_ATTRIBUTES.sub("", text.replace(MARK, " ")))
    return bool(LETTER.search(text))


class _WordsFinder(html.parser.HTMLParser):
    """Text between tags, and read attributes, that hold letters (script and style aside)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skipping += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and _has_words(value):
                self.found.append(f'{name}="{value}"')

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping and _has_words(data):
            self.found.append(data.replace(MARK, "{{ }}").strip())


def unmarked_words(path: Path) -> list[str]:
    """Words in this template that no extractor sees."""
    text = _text_outside_jinja(path.read_text(encoding="utf-8"))
    if path.suffix == ".txt":
        return [line.replace(MARK, "{{ }}").strip()
                for line in text.splitlines() if _has_words(line)]
    finder = _WordsFinder()
    finder.feed(text)
    finder.close()
    return finder.found


def test_every_word_in_a_template_is_marked_for_translation():
    templates = sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt"))
    assert len(templates) > 40
    unmarked = [
        f"{path.relative_to(TEMPLATES)}: {words!r}"
        for path in templates
        for words in unmarked_words(path)
        if (str(path.relative_to(TEMPLATES)), words) not in NOT_WORDS
    ]
    assert unmarked == [], "Mark these with {{ _(...) }} or {% trans %}:\n" + "\n".join(
        unmarked)


def test_the_template_check_sees_unmarked_words(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<h1>{{ _("Marked") }}</h1>\n<p class="x">Not marked {{ n }}</p>\n'
        "{% trans %}Marked too{% endtrans %}<script>var a = 'code';</script>\n"
        '<img alt="A picture" src="{{ src }}"> &middot; 12 (£3) <b>{{ name }}</b>\n'
    )
    assert unmarked_words(page) == ["Not marked {{ }}", 'alt="A picture"']


# --- Python ---------------------------------------------------------------------------------


def _name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _plain_words(node: ast.AST) -> bool:
    """Words written so that no extractor sees them: a literal, an f-string, a
    concatenation or a `.format` of one."""
    if _is_text(node) or isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _plain_words(node.left) or _plain_words(node.right)
    if isinstance(node, ast.Call) and _name(node) == "format":
        return isinstance(node.func, ast.Attribute) and _plain_words(node.func.value)
    return False


def _service_errors(trees: dict[Path, ast.Module]) -> set[str]:
    """ServiceError and the classes made from it, by name."""
    names = {"ServiceError"}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and any(
                    isinstance(base, ast.Name) and base.id in names for base in node.bases
                ):
                    names.add(node.name)
                    grew = True
    return names


def _module_texts(tree: ast.Module) -> set[str]:
    """Module-level names bound to plain words (`NOT_SAVED = "Your card ..."`)."""
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign) and _plain_words(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def untranslatable_refusals(trees: dict[Path, ast.Module]) -> list[str]:
    errors = _service_errors(trees)
    found = []
    for path, tree in trees.items():
        plain_names = _module_texts(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node) in errors and node.args):
                continue
            words = node.args[0]
            if _plain_words(words) or (isinstance(words, ast.Name) and words.id in plain_names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def unreadable_translations(trees: dict[Path, ast.Module]) -> list[str]:
    """Calls of _() and friends on something other than a literal (a variable, an
    f-string, a concatenation): the extractor cannot read those words."""
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in TRANSLATING and node.args):
                first = node.args[:2] if node.func.id.endswith("ngettext") else node.args[:1]
                if not all(_is_text(arg) for arg in first):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _trees(folder: Path) -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path))
            for path in sorted(folder.rglob("*.py"))}


def test_services_refuse_in_words_marked_for_translation():
    assert untranslatable_refusals(_trees(SERVICES)) == []


def test_no_translation_is_asked_of_words_the_extractor_cannot_read():
    assert unreadable_translations(_trees(PACKAGE)) == []


def test_the_python_checks_see_unmarked_words():
    tree = ast.parse(
        "class Refused(ServiceError): pass\n"
        "NOT_OK = 'Plain words'\n"
        "OK = _l('Marked words')\n"
        "def f(n, message):\n"
        "    raise ServiceError(_l('Up to %(n)s', n=n))\n"
        "    raise ServiceError(OK)\n"
        "    raise ServiceError(str(message))\n"
        "    raise ServiceError(f'Up to {n}')\n"
        "    raise Refused('Plain')\n"
        "    raise ServiceError(NOT_OK, field='x')\n"
        "    raise ServiceError('Up to ' + str(n))\n"
        "    flash(_(message))\n"
        "    flash(_(f'{n} left'))\n"
        "    return ngettext('%(num)s try', '%(num)s tries', n)\n"
    )
    trees = {ROOT / "example.py": tree}
    assert untranslatable_refusals(trees) == [
        "example.py:8", "example.py:9", "example.py:10", "example.py:11"]
    assert unreadable_translations(trees) == ["example.py:12", "example.py:13"]
