"""Loading the library the way the settings ask: in this process, or sharded over a Dask cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.config import Settings, SettingsError
from bot.index.library import Library
from bot.index.loader import load_library
from bot.ranking.answer import warm_up


def load_for(
    settings: Settings,
    previous: Library | None = None,
    progress: Callable[[str], None] | None = None,
    clusters: Any = None,
    **extra: Any,
) -> Library:
    """Load (or, given `previous`, reload) the corpus; sharded on the cluster when CITEBOT_DASK_SCHEDULER is set.

    `clusters` (a bot.index.cluster.Clusters) keeps the cluster's client for the next reload; without one, a
    new client serves this library for as long as it lives. `extra` goes to `load_library` as it is (a snapshot
    `writer`, for one). What answering loads lazily is loaded before the library is returned, so the first
    question is answered as fast as the next.
    """
    library = _load(settings, previous, progress, clusters, settings.loader_options() | extra)
    warm_up(library, settings.semantic)
    return library


def _load(
    settings: Settings,
    previous: Library | None,
    progress: Callable[[str], None] | None,
    clusters: Any,
    options: dict[str, Any],
) -> Library:
    if not settings.dask_scheduler:
        return load_library(settings.corpus_dir, settings.cache_dir, previous=previous, progress=progress, **options)
    try:
        from bot.index import cluster  # the `cluster` extra: only a deployment that asks for it needs Dask
    except ImportError as exc:
        raise SettingsError(
            f"CITEBOT_DASK_SCHEDULER is set but Dask is not installed ({exc.name}): pip install 'citebot[cluster]'"
        ) from None
    ca, cert, key = settings.dask_tls_ca, settings.dask_tls_cert, settings.dask_tls_key
    tls = (ca, cert, key) if ca and cert and key else None
    try:
        clusters = clusters if clusters is not None else cluster.Clusters()
        client = clusters.client(settings.dask_scheduler, tls=tls, allow_plain=settings.dask_allow_plain)
    except ValueError as exc:
        raise SettingsError(f"CITEBOT_DASK_SCHEDULER={exc}") from None
    return cluster.load_sharded(
        settings.corpus_dir,
        settings.cache_dir,
        client,
        settings.shards,
        previous=previous,
        progress=progress,
        **options,
    )
