"""Syncing the websites of the sources file the way the settings ask; `citebot sync` and the bot share it."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.ingest.sources.web.fetch import user_agent
from bot.ingest.sources.web.report import sources_report
from bot.ingest.sources.web.sync import Options, Site, SyncReport, read_sources, sync


def sync_options(settings: Settings) -> Options:
    """Where a sync writes and how it fetches, from the settings."""
    return Options(
        corpus=settings.corpus_dir,
        cache=settings.cache_dir,
        agent=user_agent(settings.user_agent),
        allow_private=settings.allow_private_addresses,
        delay=settings.sync_delay,
    )


def sites_of(settings: Settings, sources: Path | None = None) -> list[Site]:
    """The sites of the sources file (CITEBOT_SOURCES unless given); SourcesError if it cannot be read."""
    return read_sources(sources or settings.sources)


def sync_for(settings: Settings, sources: Path | None = None) -> SyncReport:
    """Sync every site of the sources file into the corpus folder (blocking: run it off the event loop)."""
    return sync(sites_of(settings, sources), sync_options(settings))


def sources_for(settings: Settings) -> str:
    """Each source of the sources file and its last sync, as text."""
    return sources_report(sites_of(settings), settings.cache_dir)
