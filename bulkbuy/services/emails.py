"""The words of every e-mail: Jinja templates under bulkbuy/templates/email/, rendered here.

Each e-mail NAME is `email/NAME.txt`, plain text (not escaped), with two blocks:
`subject` (one line) and `body`. Their words are marked like a page's,
`{{ _("Hello %(name)s,", name=name) }}`, so Babel's extractor finds them (babel.cfg);
money goes through the `pence` filter and times through `when`, as on the pages.

    subject, body = emails.render_email("round_failed", name=..., round_title=..., ...)

For many e-mails of one kind (a round's results), take the template once and render
it in the loop: `emails.template("round_results").body(**context)`. Each render is in
the language in force: wrap it in `with flask_babel.force_locale(code):` for the
recipient's (see `notifications`: recipients are grouped by language).
"""

from __future__ import annotations

from typing import Any

import flask_babel
from flask import current_app, g
from jinja2 import Template


class EmailTemplate:
    """One e-mail's template, compiled once; renders its subject and body in the language
    in force when each is rendered (`with flask_babel.force_locale(code):`)."""

    def __init__(self, name: str):
        self.name = name
        self._template: Template = current_app.jinja_env.get_template(f"email/{name}.txt")
        self._subject = self._template.blocks["subject"]
        self._body = self._template.blocks["body"]
        #: The words' functions, per language's translations (see `_words_for`).
        self._words: dict[object, dict[str, Any]] = {}
        self._last: tuple[object, dict[str, Any]] = (None, {})

    def _words_for(self, translations) -> dict[str, Any]:
        """The same words as the app's `_()` gives a plain text template (newstyle: always
        %-formatted) in `translations`' language, each looked up once per template and
        language, without Jinja's three hops per call: a round's results render this
        once per household at close."""
        words = self._words.get(translations)
        if words is not None:
            return words
        translated: dict[str, str] = {}

        def gettext(string: str, **variables: Any) -> str:
            text = translated.get(string)
            if text is None:
                text = translated[string] = translations.ugettext(string)
            return text % variables

        def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
            variables.setdefault("num", num)
            return translations.ungettext(singular, plural, num) % variables

        words = self._words[translations] = {"_": gettext, "gettext": gettext,
                                             "ngettext": ngettext}
        return words

    def _words_in_force(self) -> dict[str, Any]:
        """`_words_for` the language in force: the last language's words again while the
        Locale object in force is the same one (a round's results render thousands of
        times in one language), else looked up by the language's translations (one object
        per language in Flask-Babel)."""
        state = g.get("_flask_babel")
        locale = getattr(state, "babel_locale", None)
        if locale is not None and locale is self._last[0]:
            return self._last[1]
        words = self._words_for(flask_babel.get_translations())
        self._last = (flask_babel.get_locale(), words)
        return words

    def subject(self, **context: Any) -> str:
        return self._render(self._subject, context)

    def body(self, **context: Any) -> str:
        return self._render(self._body, context)

    def render(self, **context: Any) -> tuple[str, str]:
        """(subject, text body)."""
        return self.subject(**context), self.body(**context)

    def _render(self, block, context: dict[str, Any]) -> str:
        # shared=True: only these names, not the app's globals (url_for, ...), which an
        # e-mail does not need and which would otherwise be copied for every render.
        words = self._words_in_force()
        return "".join(block(self._template.new_context({**context, **words}, shared=True)))


def template(name: str, /) -> EmailTemplate:
    """The e-mail template `email/<name>.txt` (the app's Jinja environment caches it)."""
    return EmailTemplate(name)


def render_email(name: str, /, **context: Any) -> tuple[str, str]:
    """(subject, text body) of the e-mail `name` with `context`."""
    return EmailTemplate(name).render(**context)
