"""Websites as a source: feeds and sitemaps read politely and incrementally, each page saved as a corpus file.

`safety` (which addresses may be fetched), `fetch` (the HTTP client), `robots`, `discover` (feeds and sitemaps),
`boilerplate` (paragraphs a site repeats on many pages), `state` (what is known of each page) and `sync`.
"""
