"""Form pieces shared by every area: validators with plain-word messages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms.validators import StopValidation

from bulkbuy.validation import clean_text, email_address, parse_pounds, whole_number


class Text:
    """Trimmed text, at most `max_length` characters; optional when `required` is False."""

    def __init__(
        self, label: str, max_length: int, required: bool = True, multiline: bool = False
    ):
        self.label, self.max_length, self.required = label, max_length, required
        self.multiline = multiline

    def __call__(self, form, field):
        try:
            field.data = clean_text(
                field.data, self.label, max_length=self.max_length, required=self.required,
                multiline=self.multiline,
            )
        except ValueError as error:
            raise StopValidation(str(error)) from None


class EmailAddress:
    """One e-mail address (validation.email_address), normalised as it is stored."""

    def __call__(self, form, field):
        try:
            field.data = email_address(field.data)
        except ValueError as error:
            raise StopValidation(str(error)) from None


class WholeNumber:
    """A whole number typed as text, from `minimum` to `maximum`."""

    def __init__(self, label: str, maximum: int, minimum: int = 0, required: bool = True):
        self.label, self.minimum, self.maximum = label, minimum, maximum
        self.required = required

    def __call__(self, form, field):
        raw = (field.raw_data or [""])[0] if field.raw_data is not None else field.data
        if not self.required and not str(raw or "").strip():
            field.data = None
            raise StopValidation()
        try:
            field.data = whole_number(
                str(raw or ""), self.label, minimum=self.minimum, maximum=self.maximum
            )
        except ValueError as error:
            raise StopValidation(str(error)) from None


class Pounds:
    """An amount of money typed in pounds ("12.50"), stored as pence."""

    def __init__(self, required: bool = True):
        self.required = required

    def __call__(self, form, field):
        raw = (field.raw_data or [""])[0] if field.raw_data is not None else field.data
        if not self.required and not str(raw or "").strip():
            field.data = None
            raise StopValidation()
        try:
            field.data = parse_pounds(str(raw or ""))
        except ValueError as error:
            raise StopValidation(str(error)) from None


class BaseForm(FlaskForm):
    """A CSRF-protected form whose errors can be listed in an error summary."""

    def error_list(self) -> list[tuple[str, str]]:
        """(field id, first message) for every field with an error, in form order."""
        return [(field.id, field.errors[0]) for field in self if field.errors]
