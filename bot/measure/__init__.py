"""Measurement: evaluation on QA files, fitting the ranker, speed and load benchmarks.

Holds `evaluation`, `fit`, `bench` and `language_cost`. Only the command line imports it; nothing the bot
runs at answer time does.
"""
