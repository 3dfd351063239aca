"""Layout a new user tripped over (#13, item 24), measured in Chromium with the real
app.css: a page's heading has space under the blue header bar; on the tablet a product's
name (an h3) is no smaller than the body text; on a 320px phone the import page's
column names are not broken mid-word; the session sheet's visits table shows its last
column ("Ended") inside the screen.

One page (the sign-in page, no data needed) is loaded; the other three are small pieces
of the real templates' markup put into it, so the check costs well under a second."""

from __future__ import annotations

NARROW = {"width": 320, "height": 640}

IMPORT_COLUMNS = ('<p>Use a CSV file with these columns: <span class="code" id="columns">'
                  'name, unit, case_size, case_price, retail_price, code</span>.</p>')

VISITS_TABLE = """
<div class="table-scroll" id="visits" role="region" aria-label="Who came" tabindex="0">
<table class="table table-stack">
  <thead><tr><th scope="col">Household</th><th scope="col">How we knew them</th>
  <th scope="col">From</th><th scope="col">Ended</th></tr></thead>
  <tbody><tr><td data-label="Household">Flat 12, Birch House</td>
  <td data-label="How we knew them">Helper knew them</td>
  <td data-label="From">Saturday 5 December 2026, 10:30am</td>
  <td data-label="Ended" id="ended">Session ended</td></tr></tbody>
</table></div>"""

WORDS_SPLIT = """(id) => {
  // A word laid out on two lines has two client rects: list those words.
  const node = document.getElementById(id).firstChild;
  const split = [];
  for (const m of node.data.matchAll(/[^ ,]+/g)) {
    const range = document.createRange();
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    if (range.getClientRects().length > 1) split.push(m[0]);
  }
  return split;
}"""


def test_headings_tablet_names_import_columns_and_the_session_sheet_fit(new_context,
                                                                        live_app):
    page = new_context(viewport=NARROW).new_page()
    page.goto("/login")

    gap = page.evaluate("""() => document.querySelector('h1').getBoundingClientRect().top
        - document.querySelector('.site-header').getBoundingClientRect().bottom""")
    assert gap >= 20, f"the heading is {gap}px under the header bar"

    page.evaluate("""(html) => {
        const main = document.querySelector('main');
        main.insertAdjacentHTML('beforeend', html);
    }""", IMPORT_COLUMNS + VISITS_TABLE + '<h3 id="product-name">Tinned tomatoes</h3>')

    assert page.evaluate(WORDS_SPLIT, "columns") == []

    ended = page.evaluate("""() => {
        const cell = document.getElementById('ended').getBoundingClientRect();
        const box = document.getElementById('visits').getBoundingClientRect();
        return [cell.right, box.right];
    }""")
    assert ended[0] <= ended[1] + 0.5, f"'Ended' ends at {ended[0]}px, its box at {ended[1]}px"

    page.evaluate("() => document.body.classList.add('tablet')")
    sizes = page.evaluate("""() => [
        parseFloat(getComputedStyle(document.getElementById('product-name')).fontSize),
        parseFloat(getComputedStyle(document.body).fontSize)]""")
    assert sizes[0] > sizes[1], f"product name {sizes[0]}px, body text {sizes[1]}px"
