"""Files into documents: the corpus folder, each format's extractor, the sandbox they run in, sidecars.

Holds `corpus` (listing the folder, front matter, titles, `Document`), `formats/` (one extractor per format),
`sandbox` (worker processes with time and memory limits) and `sidecars`. Imports nothing else of citebot.
"""
