"""Print the payment state tables (bulkbuy.domain.payment_states) as Mermaid diagrams.

    python scripts/payment_diagram.py            # the blocks, for docs/payments.md
    python scripts/payment_diagram.py --write    # replace them in docs/payments.md

docs/payments.md holds the output between `<!-- state-diagram:start -->` and
`<!-- state-diagram:end -->`; tests/unit/test_payment_states.py fails when they differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bulkbuy.domain.payment_states import TABLES, Table  # noqa: E402

DOC = ROOT / "docs" / "payments.md"
START = "<!-- state-diagram:start -->"
END = "<!-- state-diagram:end -->"


def diagram(table: Table) -> str:
    """One Mermaid stateDiagram-v2 block: a start arrow to each initial state, and one
    arrow per (from, to) pair labelled with the events that make it."""
    lines = [f"**A {table.kind}**", "", "```mermaid", "stateDiagram-v2"]
    lines += [f"    [*] --> {state}" for state in table.initial]
    arrows: dict[tuple[str, str], list[str]] = {}
    for move in table.moves:
        events = arrows.setdefault((move.source, move.target), [])
        if move.event not in events:
            events.append(move.event)
    lines += [f"    {source} --> {target}: {', '.join(events)}"
              for (source, target), events in arrows.items()]
    lines.append("```")
    return "\n".join(lines)


def diagrams() -> str:
    """Every table's block, as docs/payments.md holds them between the markers."""
    return "\n\n".join(diagram(table) for table in TABLES)


def with_diagrams(text: str) -> str:
    """`text` with what lies between the markers replaced by `diagrams()`."""
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{START}\n{diagrams()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        DOC.write_text(with_diagrams(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(diagrams())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
