"""A sync's report as text: per source, what was added, changed, removed and kept, and each skipped page with why."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.ingest.sources.web.state import load_state, state_path
from bot.ingest.sources.web.sync import Site, SiteReport, SyncReport

LISTED = 10  # URLs named per kind of change; past that, counted
SKIPS_LISTED = 30


def format_report(report: SyncReport) -> str:
    """The whole report, a block per source."""
    if not report.sites:
        return "No sources to sync."
    return "\n\n".join(format_site(site) for site in report.sites)


def format_site(site: SiteReport) -> str:
    """One source's block: a summary line, then the pages by what became of them."""
    if site.refused:
        return f"{site.name} ({site.url}): refused: {site.refused}"
    lines = [
        f"{site.name} ({site.url}): {len(site.added)} added, {len(site.changed)} changed, "
        f"{len(site.removed)} removed, {site.unchanged} unchanged, {len(site.skipped)} skipped "
        f"({site.requests} requests, {site.wire_bytes / 1024:.0f} KB, {site.seconds:.1f} s)"
    ]
    for kind, urls in (("added", site.added), ("changed", site.changed), ("removed", site.removed)):
        lines += _named(kind, urls)
    for url, reason in site.skipped[:SKIPS_LISTED]:
        lines.append(f"  skipped {url}: {reason}")
    if len(site.skipped) > SKIPS_LISTED:
        lines.append(f"  … and {len(site.skipped) - SKIPS_LISTED} more skipped")
    return "\n".join(lines)


def _named(kind: str, urls: Iterable[str]) -> list[str]:
    urls = list(urls)
    lines = [f"  {kind} {url}" for url in urls[:LISTED]]
    if len(urls) > LISTED:
        lines.append(f"  … and {len(urls) - LISTED} more {kind}")
    return lines


def sources_report(sites: list[Site], cache: Path) -> str:
    """Each source and its last sync, a line each (for /sources)."""
    lines = []
    for site in sites:
        state = load_state(state_path(cache, site.url))
        last = state.get("last") or {}
        if not last:
            lines.append(f"{site.label} ({site.url}): not synced yet")
            continue
        if last.get("refused"):
            outcome = f"refused: {last['refused']}"
        else:
            outcome = (
                f"{last.get('added', 0)} added, {last.get('changed', 0)} changed, {last.get('removed', 0)} removed, "
                f"{last.get('unchanged', 0)} unchanged, {last.get('skipped', 0)} skipped"
            )
        pages = len(state.get("pages", {}))
        lines.append(f"{site.label} ({site.url}): {pages} pages; last sync {last.get('finished')}: {outcome}")
    return "\n".join(lines) or "The sources file lists no site."
