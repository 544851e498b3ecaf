"""Sources that write into the corpus folder: each turns something outside (a website, a Telegram channel's
posts) into files.

A source saves ordinary corpus files (and their `.yml` sidecars); the extractors, cache, snapshot and
incremental reload then read them like any file put there by hand.
"""
