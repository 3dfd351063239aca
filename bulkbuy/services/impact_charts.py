"""The impact report's charts, drawn on the server as SVG by pygal (no JavaScript).

Each chart is served as an image of its own (its SVG carries pygal's <style>, which the
pages' Content-Security-Policy would refuse inline) and always sits next to a text
summary and a table of the same figures (templates/organiser/impact.html). A count of
households that may not be shown (1 to 4) is not drawn at all: its bar is left out and
the table says "fewer than 5", so the chart never gives it away.

Colours are the app's (static/css/app.css): blue #1d70b8 and green #0f7a52 on white,
text #0b0c0c, each over 4.5:1 against white.
"""

from __future__ import annotations

from xml.etree import ElementTree

import pygal
from flask_babel import gettext as _
from pygal.style import Style

from bulkbuy.domain.money import format_pence
from bulkbuy.services.impact import Report, step_words

CHARTS = ("households", "money")
_STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#0b0c0c",
    foreground_strong="#0b0c0c", foreground_subtle="#6f777b", opacity="1",
    opacity_hover="1", transition="none", colors=("#1d70b8", "#0f7a52"),
    font_family="Arial, sans-serif", label_font_size=14, major_label_font_size=14,
    legend_font_size=15, title_font_size=17, value_font_size=13, tooltip_font_size=13,
)


def _chart(kind, found: Report, **config):
    steps = found.steps
    chart = kind(
        style=_STYLE, width=720, height=360, js=[], explicit_size=False, show_legend=True,
        legend_at_bottom=True, legend_at_bottom_columns=2, x_label_rotation=0 if len(steps) <= 6
        else 45, truncate_label=-1, print_values=False, show_y_guides=True,
        include_x_axis=True, margin=16, spacing=12, no_data_text=_("No rounds"), **config)
    chart.x_labels = [step_words(s.key) for s in steps]
    return chart


def households_svg(found: Report) -> bytes:
    """Households taking part in each step (those under 5 left out)."""
    chart = _chart(pygal.Bar, found, title=_("Households taking part"),
                   value_formatter=lambda v: f"{int(v):,}", min_scale=2, max_scale=6)
    chart.add(_("Households"), [s.households.chartable for s in found.steps])
    return _without_script(chart)


def money_svg(found: Report) -> bytes:
    """Money spent and saved in each step."""
    chart = _chart(pygal.Bar, found, title=_("Money spent and saved"),
                   value_formatter=lambda v: format_pence(int(v)), max_scale=6)
    chart.add(_("Spent"), [s.spent_pence for s in found.steps])
    chart.add(_("Saved"), [s.saved_pence for s in found.steps])
    return _without_script(chart)


def render(name: str, found: Report) -> bytes:
    """The chart called `name` (one of CHARTS) as SVG."""
    return households_svg(found) if name == "households" else money_svg(found)


def _without_script(chart) -> bytes:
    """The chart's SVG without the <script> pygal always puts in (its settings for the
    JavaScript tooltips we do not use: an image runs no script anyway)."""
    root = chart.render_tree()
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
