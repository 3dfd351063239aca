"""Every action the code writes to the audit log has words on the audit log page
(services/audit_log.ACTION_WORDS): an organiser never reads a raw action name."""

from __future__ import annotations

import re
from pathlib import Path

from bulkbuy.services import audit_log

PACKAGE = Path(__file__).resolve().parents[2] / "bulkbuy"
#: audit.record("x.y", ...) and entries for audit.record_many(...) with action="x.y".
RECORDED = re.compile(r'audit\.record\(\s*"([a-z_]+\.[a-z_]+)"'
                      r'|["\']?action["\']?\s*[=:]\s*"([a-z_]+\.[a-z_]+)"')


def test_every_recorded_action_has_words():
    recorded = set()
    for path in PACKAGE.rglob("*.py"):
        for match in RECORDED.finditer(path.read_text(encoding="utf-8")):
            recorded.add(match.group(1) or match.group(2))
    assert len(recorded) > 20  # the pattern still finds them
    missing = sorted(recorded - set(audit_log.ACTION_WORDS))
    assert not missing, f"audit actions with no words in ACTION_WORDS: {missing}"
