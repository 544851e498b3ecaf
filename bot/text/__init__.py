"""Text into terms: sentence splitting and analyzers per language, language detection, word embeddings.

Holds `analyzers`, `languages` and `embeddings`. May import `bot.ingest` (for `Document`), nothing above it.
"""
