"""axe-core (shipped inside axe-playwright-python, nothing downloaded) run on an open page."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Page

BLOCKING = ("serious", "critical")


def serious_violations(page: Page) -> list[str]:
    """The page's serious and critical axe-core violations, one readable line per element.

    axe-core goes into a document once: checking the same page again (at another width) only
    runs the rules."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    results: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {node['html'][:160]} — "
        + "; ".join(check["message"] for check in node["any"] + node["all"] + node["none"])
        for violation in results["violations"]
        if violation["impact"] in BLOCKING
        for node in violation["nodes"]
    ]
