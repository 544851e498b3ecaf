"""What every front end shares (the Telegram bot, the terminal chat, the JSON CLI).

Holds `loading` (the library the settings describe), `messages` (the words in three languages), `render` (an
answer as HTML or text), `refs` (citations and the sentence a button points at), `feedback` (votes and unanswered
questions) and `uploads`. May import
`bot.config`, `bot.ranking` and everything below it; never `telegram`.
"""
