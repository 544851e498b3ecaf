"""Questions into answers: candidates' features, the fitted ranker, and the `Answer` with its quotes.

Holds `features`, `ranker` and `answer`. May import `bot.index`, `bot.text` and `bot.ingest`.
"""
