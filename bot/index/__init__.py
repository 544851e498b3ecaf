"""Documents into searchable indexes: BM25, the library of sentences and documents, the cache and snapshot.

Holds `bm25`, `stacked` (a main index and a delta of appended rows searched as one), `library`, `loader`
(scan, analyse, build), `cache`, `snapshot` and `cluster` (shards on Dask). May import `bot.ingest` and `bot.text`.
"""
