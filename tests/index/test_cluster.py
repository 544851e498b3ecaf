"""Sharded search on a Dask LocalCluster gives the single index's answers, bit for bit, and survives a dead worker."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("distributed", reason="Dask is not installed: pip install '.[cluster]'")

from distributed import Client, LocalCluster  # noqa: E402
from distributed.security import Security  # noqa: E402

from bot.chat.loading import load_for  # noqa: E402
from bot.config import Settings, SettingsError  # noqa: E402
from bot.index.cluster import (  # noqa: E402
    LOCAL,
    LOCAL_WORKERS,
    Clusters,
    ShardedIndex,
    ShardedLibrary,
    load_sharded,
    shard_library,
)
from bot.index.library import Library  # noqa: E402
from bot.index.loader import load_library  # noqa: E402
from bot.ranking.answer import Answer, answer  # noqa: E402
from tests.helpers import write_files  # noqa: E402

# "harbour" is in every sentence (rank-bm25's IDF floor applies to it); the rare words are in a few.
COMMON = "harbour"
WORDS = "lighthouse beam keeper storm ship rock tide lamp island coast fog bell night".split()
RARE = "zeppelin quasar marmalade obelisk".split()
QUESTIONS = [
    "harbour",
    "storm at night near the island",
    "zeppelin over the harbour",
    "where is the quasar obelisk",
    "keeper of the lamp and the bell",
    "marmalade",
    "fog fog fog coast",
    "volcano eruption in Iceland",  # no word of the corpus: an abstention
    "when did the ship hit the rock",
]


def corpus_files(seed: int, documents: int) -> dict[str, str]:
    """Documents of uneven length, from a few words each to a few dozen, some with a rare word."""
    rng = random.Random(seed)
    files = {}
    for number in range(documents):
        sentences = []
        for _ in range(rng.choice([1, 2, 3, 8, 20])):
            words = [rng.choice(WORDS) for _ in range(rng.randint(2, 9))] + [COMMON]
            if rng.random() < 0.05:
                words.append(rng.choice(RARE))
            rng.shuffle(words)
            sentences.append(" ".join(words).capitalize() + ".")
        files[f"doc{number:02d}.md"] = f"# {rng.choice(WORDS).title()} notes\n\n" + " ".join(sentences) + "\n"
    return files


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """One two-worker cluster on 127.0.0.1 for the whole module."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_files(tmp_path / "corpus", corpus_files(seed=3, documents=24))


def comparable(result: Answer) -> Answer:
    return dataclasses.replace(result, took_ms=0.0)


def assert_same_answers(sharded: Library, single: Library) -> None:
    """Every question's answer (results, scores, order, quotes, abstention) and every index call agree exactly."""
    for question in QUESTIONS:
        assert comparable(answer(sharded, question)) == comparable(answer(single, question)), question
    rows = np.arange(single.sentence_count)
    for question in QUESTIONS:
        ids = single.term_ids(single.question_analyzer(question).terms(question))
        for ours, theirs, all_rows in (
            (sharded.sentence_index, single.sentence_index, rows),
            (sharded.document_index, single.document_index, np.arange(len(single.documents))),
        ):
            for k in (1, 5, 1000):
                (got_rows, got_scores), (want_rows, want_scores) = ours.top(ids, k), theirs.top(ids, k)
                assert got_rows.tolist() == want_rows.tolist()
                assert got_scores.tolist() == want_scores.tolist()  # bit for bit: == on floats, not approx
            assert ours.scores(ids, all_rows).tolist() == theirs.scores(ids, all_rows).tolist()
            assert ours.matches(ids, all_rows).tolist() == theirs.matches(ids, all_rows).tolist()
            assert ours.contains(ids, all_rows).tolist() == theirs.contains(ids, all_rows).tolist()
            for got, want in zip(ours.lookup(ids, all_rows[::-1]), theirs.lookup(ids, all_rows[::-1])):
                assert got.tolist() == want.tolist()
            started = ours.submit("lookup", ids, all_rows), ours.submit("top", ids, 5)  # both in flight at once
            assert [part.tolist() for part in started[1]()] == [part.tolist() for part in theirs.top(ids, 5)]
            assert [part.tolist() for part in started[0]()] == [part.tolist() for part in theirs.lookup(ids, all_rows)]
            assert ours.idf.tolist() == theirs.idf.tolist()


@pytest.mark.parametrize("shards", [1, 2, 3, 7])
def test_sharded_answers_equal_the_single_index(client: Client, corpus: Path, tmp_path: Path, shards: int) -> None:
    single = load_library(corpus, tmp_path / "cache")
    sharded = shard_library(single, client, shards)
    sizes = [len(rows) for rows in sharded.sentence_index.members]
    assert len(sizes) == shards and sum(sizes) == single.sentence_count
    assert shards == 1 or len(set(sizes)) > 1, "shards of different sizes"
    for index in (sharded.sentence_index, sharded.document_index):
        # Each shard is queried on the worker that holds it.
        servers, holders = client.who_has(index._current_servers()[0]), client.who_has(index.shards)
        assert [servers[f.key] for f in index._current_servers()[0]] == [holders[f.key] for f in index.shards]
    assert_same_answers(sharded, single)
    assert any(answer(sharded, q).answered for q in QUESTIONS)
    assert not answer(sharded, "volcano eruption in Iceland").answered


def test_an_answer_makes_two_rounds_of_shard_calls(
    client: Client, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each round trip to a worker costs milliseconds: an answer sends the sentence and document searches
    # together, then one lookup per index together, and waits twice.
    sharded = shard_library(load_library(corpus, tmp_path / "cache"), client, 2)
    rounds: list[list[str]] = [[]]
    real_start = ShardedIndex._start

    def counting_start(self: ShardedIndex, method: str, calls: list) -> object:
        rounds[-1].append(method)
        waiting = real_start(self, method, calls)

        def wait() -> object:
            if rounds[-1]:
                rounds.append([])  # a wait closes the round of calls sent before it
            return waiting()

        return wait

    monkeypatch.setattr(ShardedIndex, "_start", counting_start)
    result = answer(sharded, QUESTIONS[0])
    assert result.results
    assert [sorted(calls) for calls in rounds if calls] == [["top", "top"], ["lookup", "lookup"]]


def edit(corpus: Path) -> None:
    """Add two documents, change one, delete one."""
    extra = corpus_files(seed=99, documents=2)
    write_files(corpus, {"new-a.md": extra["doc00.md"], "new-b.md": extra["doc01.md"] + " A zeppelin quasar here.\n"})
    changed = corpus / "doc05.md"
    changed.write_text(changed.read_text() + "\nThe marmalade obelisk stood by the harbour.\n")
    (corpus / "doc11.md").unlink()


def test_reload_rebuilds_only_changed_shards_and_answers_as_a_cold_start(
    client: Client, corpus: Path, tmp_path: Path
) -> None:
    before = load_sharded(corpus, tmp_path / "cache", client, 7)
    single = load_library(corpus, tmp_path / "single-cache")
    edit(corpus)
    after = load_sharded(corpus, tmp_path / "cache", client, 7, previous=before)
    # The single-process reload is the reference: a cold build numbers terms in another order, and rank-bm25's
    # mean IDF summed in another order can differ in its last bit.
    assert_same_answers(after, load_library(corpus, tmp_path / "single-cache", previous=single))
    assert after.sentence_index.version != before.sentence_index.version
    # The old version still answers as it did, from its own shards and statistics: nothing of the new leaks in.
    assert_same_answers(before, single)
    old = dict(zip(before.layout.slots, zip(before.layout.signatures, before.layout.sentence_structures)))
    kept = rebuilt = 0
    for slot, signature, structure in zip(
        after.layout.slots, after.layout.signatures, after.layout.sentence_structures
    ):
        unchanged = slot in old and old[slot][0] == signature
        assert (structure.key == old[slot][1].key) == unchanged if slot in old else not unchanged
        kept, rebuilt = kept + unchanged, rebuilt + (not unchanged)
    # Three documents changed (two added, one edited, one deleted: at most four shards), the rest are reused.
    assert 1 <= rebuilt <= 4 and kept >= 3


def test_settings_choose_the_cluster(
    client: Client, corpus: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    address = client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    settings = Settings(
        corpus_dir=corpus, cache_dir=tmp_path / "cache", dask_scheduler=address, dask_allow_plain=True, shards=3
    )
    clusters = Clusters()
    request.addfinalizer(clusters.close)
    sharded = load_for(settings, clusters=clusters)
    assert isinstance(sharded, ShardedLibrary) and len(sharded.layout.slots) == 3
    assert_same_answers(sharded, load_library(corpus, tmp_path / "single-cache"))
    edit(corpus)
    reloaded = load_for(settings, previous=sharded, clusters=clusters)
    assert isinstance(reloaded, ShardedLibrary)
    assert [d.path for d in reloaded.documents] == [d.path for d in load_library(corpus, tmp_path / "cold").documents]
    assert not isinstance(load_for(Settings(corpus_dir=corpus, cache_dir=tmp_path / "cache")), ShardedLibrary)


def test_a_killed_worker_costs_a_retry_not_an_answer(client: Client, corpus: Path, tmp_path: Path) -> None:
    single = load_library(corpus, tmp_path / "cache")
    sharded = shard_library(single, client, 4)
    expected = [comparable(answer(single, q)) for q in QUESTIONS]
    pids = client.run(os.getpid)
    holder = next(iter(client.who_has(sharded.sentence_index.shards[:1]).values()))[0]
    for turn in range(3):
        for number, question in enumerate(QUESTIONS):
            if turn == 1 and number == 2:
                os.kill(pids[holder], signal.SIGKILL)
            assert comparable(answer(sharded, question)) == expected[number], question
    # The nanny started a new worker; the dead one's shards were recomputed on a live one.
    assert holder not in client.scheduler_info()["workers"]


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Client:
    """The cluster CITEBOT_DASK_SCHEDULER=local starts, from a process whose environment holds secrets."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-secret-token")
    monkeypatch.setenv("CITEBOT_WEBHOOK_SECRET", "webhook-secret")
    clusters = Clusters()
    request.addfinalizer(clusters.close)
    return clusters.client(LOCAL)


def test_the_local_cluster_speaks_tls_and_refuses_clients_without_its_certificate(local: Client) -> None:
    address = local.scheduler.address
    assert address.startswith("tls://127.0.0.1:")
    assert local.submit(sum, [1, 2]).result() == 3  # the bot's own client holds the certificate
    asyncio.run(connect(address, security=local.security))  # so a second client with it is let in
    with pytest.raises((OSError, TimeoutError, TypeError)):  # TypeError: no certificate to speak TLS with
        asyncio.run(connect(address))
    with pytest.raises((OSError, TimeoutError)):
        asyncio.run(connect(address, security=Security.temporary()))  # a certificate, but not the cluster's
    with pytest.raises((OSError, TimeoutError)):
        asyncio.run(connect(address.replace("tls://", "tcp://")))


async def connect(address: str, **options: Any) -> None:
    """Open and close a client on this thread's loop: a blocking Client's own loop thread can be slow to start."""
    client = Client(address, asynchronous=True, timeout=3, **options)
    try:
        await client
    finally:
        await client.close()


def test_the_local_workers_environment_holds_no_secret(local: Client) -> None:
    seen = local.run(lambda: {k: v for k, v in os.environ.items() if k.startswith(("TELEGRAM_", "CITEBOT_"))})
    assert len(seen) == LOCAL_WORKERS and all(env == {} for env in seen.values())


def test_the_local_scheduler_serves_no_dashboard_or_http_routes(local: Client) -> None:
    def ports(dask_scheduler: Any) -> list[int]:
        return [s.getsockname()[1] for s in dask_scheduler.http_server._sockets.values()]

    [port] = local.run_on_scheduler(ports)
    assert port != 8787
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
    assert refused.value.code == 404  # Dask's routes (health, metrics, the dashboard) are all off


def test_a_plain_tcp_scheduler_is_refused_unless_allowed(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path, cache_dir=tmp_path / "cache", dask_scheduler="tcp://10.0.0.5:8786")
    with pytest.raises(SettingsError, match="tls://.*CITEBOT_DASK_ALLOW_PLAIN"):
        load_for(settings)
