"""Screenshots of the main screens, taken by the browser tests (for the README).

`save(page, name)` writes `<dir>/<name>.png`. The directory is $SCREENSHOT_DIR
when it is set (`make screenshots` sets docs/screenshots, whose images are
committed); otherwise /tmp/bulkbuy-screenshots, so an ordinary test run never
writes into the repository.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DEFAULT_DIR = Path(tempfile.gettempdir()) / "bulkbuy-screenshots"


def directory() -> Path:
    """Where screenshots go: $SCREENSHOT_DIR, else a directory under the system's temp dir."""
    chosen = os.environ.get("SCREENSHOT_DIR")
    return Path(chosen) if chosen else DEFAULT_DIR


def save(page, name: str, *, full_page: bool = False) -> Path:
    """Save what `page` shows now as `<dir>/<name>.png` and return the path.

    Animations are stopped and the text caret hidden, so the same screen gives
    the same picture from one run to the next.
    """
    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path
