"""The form for setting up a round, shared by residents and organisers."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from bulkbuy.formatting import input_value, parse_local
from bulkbuy.forms import BaseForm, Pounds, Text
from bulkbuy.models import Product
from bulkbuy.services.rounds import RoundDetails


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LocalTime:
    """A datetime-local value in the group's time zone (set on the form as `timezone`)."""

    def __init__(self, required: bool = True):
        self.required = required

    def __call__(self, form, field):
        if not self.required and not (field.data or "").strip():
            field.data = None
            raise StopValidation()
        try:
            field.data = parse_local(field.data, form.timezone)
        except ValueError as error:
            raise StopValidation(str(error)) from None


class LocalTimeField(StringField):
    """A datetime-local box: a time read from it is written back as the box can show it
    (2026-12-12T18:00 in the group's zone), so a form sent back with an error keeps it."""

    #: The group's time zone (RoundForm sets it).
    timezone = "UTC"

    def _value(self):
        if isinstance(self.data, datetime):
            return input_value(self.data, self.timezone)
        return super()._value()


class RoundForm(BaseForm):
    #: A one-time token drawn when the form is shown and sent back with it: the same
    #: form sent twice makes one round (rounds.start_round).
    submission = HiddenField(default=lambda: secrets.token_urlsafe(24),
                             validators=[Text("submission", 64, required=False)])
    title = StringField(_l("Name of the round"), validators=[Text(_l("Name of the round"), 120)])
    products = CheckboxList(_l("Products"), coerce=int)
    opens_at = LocalTimeField(_l("Open it later at (optional)"), validators=[LocalTime(False)])
    closes_at = LocalTimeField(_l("Orders close at"), validators=[LocalTime()])
    delivery_fee = StringField(_l("Delivery fee in pounds"), validators=[Pounds(False)])
    min_order = StringField(
        _l("Minimum order in pounds (optional)"), validators=[Pounds(False)]
    )
    fee_split = SelectField(
        _l("Share the delivery fee"),
        choices=[
            SelectChoice("by_value", _l("By what each home buys")),
            SelectChoice("equal", _l("Equally per home")),
        ],
        default="by_value",  # residents' form leaves these two out: use the usual choice
    )
    allocation_mode = SelectField(
        _l("When a case is short"),
        choices=[
            SelectChoice("first_come", _l("First come, first served")),
            SelectChoice("pro_rata", _l("Share in proportion")),
        ],
        default="first_come",
    )
    collection_place = StringField(
        _l("Where to collect"), validators=[Text(_l("Where to collect"), 200, required=False)]
    )
    collection_time = StringField(
        _l("When to collect"), validators=[Text(_l("When to collect"), 200, required=False)]
    )
    notes = TextAreaField(
        _l("Notes (optional)"), validators=[Text(_l("Notes"), 2000, False, multiline=True)]
    )
    payment_days = StringField(_l("Days to pay after orders close"), default="3")

    def __init__(self, products: list[Product], timezone: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone = timezone
        self.opens_at.timezone = self.closes_at.timezone = timezone
        # SelectChoice, not tuples: WTForms 3.3 deprecates tuple choices.
        self.products.choices = [
            SelectChoice(p.id, _("%(name)s (%(unit)s, case of %(n)s)", name=p.name,
                                  unit=p.unit_description, n=p.case_size))
            for p in products
        ]

    def validate_products(self, field):
        if not field.data:
            raise StopValidation("Choose at least one product")

    def validate_payment_days(self, field):
        text = (field.data or "").strip() or "3"  # left out (residents' form): the usual 3
        if not text.isdigit() or not 1 <= int(text) <= 30:
            raise StopValidation("Enter a number of days from 1 to 30, like 3")
        field.data = text

    def details(self) -> RoundDetails:
        """The checked values as RoundDetails (call after validate())."""
        return RoundDetails(
            title=self.title.data,
            closes_at=self.closes_at.data,
            opens_at=self.opens_at.data,
            delivery_fee_pence=self.delivery_fee.data or 0,
            min_order_pence=self.min_order.data,
            fee_split=self.fee_split.data,
            allocation_mode=self.allocation_mode.data,
            collection_place=self.collection_place.data,
            collection_time=self.collection_time.data,
            notes=self.notes.data,
            payment_days=int(self.payment_days.data or 3),
            submission=self.submission.data or None,
        )
