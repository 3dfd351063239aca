from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, MultipleFileField
from wtforms import BooleanField, StringField

from bulkbuy.forms import BaseForm, Pounds, Text, WholeNumber


class SupplierForm(BaseForm):
    name = StringField(_l("Supplier name"), validators=[Text(_l("Supplier name"), 100)])
    contact = StringField(
        _l("Contact (optional)"), validators=[Text(_l("Contact"), 200, required=False)]
    )


class ProductForm(BaseForm):
    name = StringField(_l("Product name"), validators=[Text(_l("Product name"), 100)])
    unit_description = StringField(_l("One unit is"), validators=[Text(_l("Unit"), 100)])
    case_size = StringField(
        _l("Units in a case"), validators=[WholeNumber(_l("Units in a case"), 10_000, minimum=1)]
    )
    case_price = StringField(_l("Case price in pounds"), validators=[Pounds()])
    retail_price = StringField(
        _l("Shop price of one unit in pounds (optional)"), validators=[Pounds(required=False)]
    )
    supplier_code = StringField(
        _l("Supplier's code (optional)"), validators=[Text(_l("Code"), 40, required=False)]
    )
    picture = FileField(_l("Picture (optional)"))


class ImportForm(BaseForm):
    file = FileField(_l("Price list (CSV file)"))
    pictures = MultipleFileField(_l("Pictures the price list names (optional)"))


class GroupSettingsForm(BaseForm):
    name = StringField(_l("Name of the group"), validators=[Text(_l("Name of the group"), 100)])
    require_round_approval = BooleanField(
        _l("Residents' rounds need an organiser's approval before they open")
    )
