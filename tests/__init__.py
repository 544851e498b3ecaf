"""citebot's tests; shared helpers live in tests.helpers, tests.botapi, tests.documents and tests.telegram_setup."""
