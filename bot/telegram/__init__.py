"""The Telegram layer, the only part of citebot that imports `telegram`.

Everything CPU-bound (loading the corpus, scoring a question) runs in worker threads so the event loop keeps
serving other chats. The modules, each importing only those before it:

- `delivery`: sending within Telegram's rates, retries, flood waits, and the getUpdates client;
- `state`: what the handlers share (`BotState`, the typed `Context`) and the words they say;
- `answers`, `inline`: an answer as messages with its buttons; inline mode;
- `access`, `questions`: `gate`, the allowlists; questions asked in chats;
- `buttons`, `reloads`, `admin`, `files`: button presses; /reload; admins' reports; documents sent by admins;
- `commands`, `errors`, `app`: the menu, /start and /help; the one error handler; the Application's wiring;
- `logs`, `running`: a log without the token; `run` for `citebot run`, `serve` and the signals.
"""
