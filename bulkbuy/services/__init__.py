"""Services: load rows, apply the domain rules, write results.

Services never commit: the request, CLI command or scheduler job that calls
them commits once (or rolls back on any error). The one exception is
`sweeps`, the scheduler's entry points, which commit each round separately.
"""

from flask_babel.speaklater import LazyString


class ServiceError(Exception):
    """A request the rules refuse, in plain words fit to show a person.

    Raise it with a lazily translated text, `ServiceError(_l("Choose at least
    %(n)s.", n=2))`, never an f-string: the extractor must see the words
    (tests/unit/test_translatable.py checks). `message` is the text in the
    current request's language, a plain `str` (so a page escapes it, and a flash
    stores it as text); `str(error)` is the same.
    """

    def __init__(self, message: str | LazyString, field: str | None = None):
        super().__init__(message)
        #: The text as given (usually a LazyString), translated each time it is read.
        self.text = message
        #: The form field the message belongs beside, when there is one.
        self.field = field

    @property
    def message(self) -> str:
        return str(self.text)

    def __str__(self) -> str:
        return str(self.text)
