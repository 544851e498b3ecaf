"""Documents into searchable indexes: BM25, the library of sentences and documents, the cache and snapshot.

Holds `bm25`, `library`, `loader` (scan, analyse, build), `cache`, `snapshot` and `cluster`
(shards on Dask). May import `bot.ingest` and `bot.text`.
"""
