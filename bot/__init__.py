"""citebot: answers questions from a folder of documents, quoting and citing its sources."""

__version__ = "0.1.0"
