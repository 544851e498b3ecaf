"""/sync, /sources and the corpus watcher, end to end against the Bot API stand-in and a site on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.botapi import BotApi
from tests.telegram_setup import ADMIN, DOCUMENTS, USER, make_settings, running, wait_until, write_corpus
from tests.websites import Site, article, rss, serving


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", DOCUMENTS)


@pytest.fixture
def website() -> Iterator[Site]:
    with serving(Site()) as site:
        site.page("/robots.txt", b"User-agent: *\nDisallow:\n", "text/plain")
        site.page("/feed.xml", rss(site.base, ["/news/lighthouse", "/news/gone"]), "application/rss+xml")
        site.page("/news/lighthouse", article("Lighthouse", "The Zork lighthouse keeper is named Ada Quill."))
        site.set("/news/gone", 410)
        yield site


async def test_sync_fetches_the_site_and_its_pages_are_answered(
    api: BotApi, corpus: Path, website: Site, tmp_path: Path
) -> None:
    sources = tmp_path / "sources.yml"
    sources.write_text(f"sites:\n  - url: {website.base}/feed.xml\n    name: Zork news\n")
    settings = make_settings(api, corpus, sources=sources, allow_private_addresses=True, sync_delay=0)
    async with running(settings):
        api.message("/sync", user_id=ADMIN)
        started, report = await api.replies(ADMIN, count=2, timeout=20)
        assert started.params["text"] == "Syncing the websites…"
        text = report.params["text"]
        assert f"Zork news ({website.base}/feed.xml): 1 added, 0 changed, 0 removed, 0 unchanged, 1 skipped" in text
        assert f"skipped {website.base}/news/gone: HTTP 410" in text
        api.message("Who is the Zork lighthouse keeper?")
        [reply] = await api.replies(USER)
        assert "Ada Quill" in reply.params["text"]
        api.message("/sources", user_id=ADMIN)
        *_, listing = await api.replies(ADMIN, count=3)
        assert f"Zork news ({website.base}/feed.xml): 1 pages; last sync " in listing.params["text"]


async def test_sync_without_a_sources_file_says_so(api: BotApi, corpus: Path) -> None:
    async with running(make_settings(api, corpus)):
        api.message("/sync", user_id=ADMIN)
        _, report = await api.replies(ADMIN, count=2)
        assert report.params["text"].startswith("Cannot sync: no sources file sources.yml")


async def test_sync_is_for_admins_only(api: BotApi, corpus: Path) -> None:
    async with running(make_settings(api, corpus)):
        api.message("/sync", user_id=USER)
        [reply] = await api.replies(USER)
        assert "sync" in reply.params["text"] and "Syncing" not in reply.params["text"]


async def test_a_file_copied_into_the_corpus_is_answered_without_reload(
    api: BotApi, corpus: Path, tmp_path: Path
) -> None:
    async with running(make_settings(api, corpus, watch=True)) as state:
        outside = tmp_path / "lighthouse.txt"
        outside.write_text("The Zork lighthouse keeper is named Ada Quill.", encoding="utf-8")
        shutil.copy(outside, corpus / "lighthouse.txt")
        await wait_until(lambda: any(d.path == "lighthouse.txt" for d in state.library.documents), timeout=20)
        api.message("Who is the Zork lighthouse keeper?")
        [reply] = await api.replies(USER)
        assert "Ada Quill" in reply.params["text"]


async def test_a_file_copied_after_the_load_but_before_the_watch_began_is_answered(
    api: BotApi, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.telegram import sync

    watch = sync._watch

    async def copied_first(state: object, stopping: object) -> None:
        # The library is loaded; the file lands before the watch is on, so it raises no event of its own.
        (corpus / "lighthouse.txt").write_text("The Zork lighthouse keeper is named Ada Quill.", encoding="utf-8")
        await watch(state, stopping)  # type: ignore[arg-type]

    monkeypatch.setattr(sync, "_watch", copied_first)
    async with running(make_settings(api, corpus, watch=True)) as state:
        await wait_until(lambda: any(d.path == "lighthouse.txt" for d in state.library.documents), timeout=20)
        api.message("Who is the Zork lighthouse keeper?")
        [reply] = await api.replies(USER)
        assert "Ada Quill" in reply.params["text"]


@pytest.mark.parametrize(("minutes", "jobs"), [(60, ["citebot-sync"]), (0, [])])
def test_the_sync_is_scheduled_every_sync_minutes(api: BotApi, corpus: Path, minutes: float, jobs: list[str]) -> None:
    from bot.index.loader import load_library
    from bot.telegram.app import build_application

    settings = make_settings(api, corpus, sync_minutes=minutes)
    application = build_application(settings, load_library(settings.corpus_dir, settings.cache_dir))
    assert [job.name for job in application.job_queue.jobs()] == jobs
