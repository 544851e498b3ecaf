"""Settings from the environment and `.env`: lists of ids, readable errors, and a token that never shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bot.config import DeprecatedSetting, Settings, SettingsError, load_settings

TOKEN = "123456:AAE-very-secret-token"


def test_defaults() -> None:
    settings = load_settings()
    assert settings.corpus_dir == Path("corpus") and settings.languages == "auto"
    assert settings.answer_sentences == 3 and settings.telegram_bot_token is None
    assert settings.admin_ids == frozenset()
    assert settings.max_upload_mb == 20


def test_upload_limit_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_MAX_UPLOAD_MB", "2.5")
    assert load_settings().max_upload_mb == 2.5


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("1,2,3", {1, 2, 3}),
        ("[1,2,3]", {1, 2, 3}),
        (" [ 10 , 20 ] ", {10, 20}),
        ("7", {7}),
        ("1;2", {1, 2}),
        ("1,,2,", {1, 2}),
        ("", set()),
        ("[]", set()),
        ("-100123, 42", {-100123, 42}),  # group chats have negative ids
    ],
)
@pytest.mark.parametrize("field", ["admin_ids", "allowed_user_ids", "allowed_chat_ids"])
def test_id_lists_accept_both_ways_of_writing_them(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, ids: set[int]
) -> None:
    monkeypatch.setenv(f"CITEBOT_{field.upper()}", value)
    assert getattr(load_settings(), field) == frozenset(ids)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CITEBOT_ANSWER_SENTENCES", "abc"),
        ("CITEBOT_ANSWER_SENTENCES", "0"),
        ("CITEBOT_ANSWER_SENTENCES", "11"),
        ("CITEBOT_MIN_CONFIDENCE", "1.5"),
        ("CITEBOT_WORKERS", "-1"),
        ("CITEBOT_ADMIN_IDS", "1,two,3"),
        ("CITEBOT_ADMIN_IDS", '["1","2"]'),
        ("CITEBOT_USER_RATE_PERIOD", "0"),
        ("CITEBOT_LOG_LEVEL", "LOUD"),
        ("CITEBOT_MAX_UPLOAD_MB", "0"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("bad setting: ") and f"{variable}:" in message
    assert repr(value) in message  # what was wrong is shown for ordinary settings


def test_env_file_in_working_directory_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "CITEBOT_ADMIN_IDS=[4,5]\nCITEBOT_ANSWER_SENTENCES=5\nCITEBOT_LANGUAGES=ru\n", encoding="utf-8"
    )
    monkeypatch.setenv("CITEBOT_ANSWER_SENTENCES", "2")
    settings = load_settings()
    assert settings.admin_ids == frozenset({4, 5}) and settings.languages == "ru"
    assert settings.answer_sentences == 2


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CITEBOT_CORPUS_DIR", "/from/env")
    assert load_settings().corpus_dir == Path("/from/env")
    assert load_settings(corpus_dir=tmp_path).corpus_dir == tmp_path


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_token_means_no_token(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", value)
    assert load_settings().telegram_bot_token is None


def test_token_is_secret_and_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    settings = load_settings()
    assert isinstance(settings.telegram_bot_token, SecretStr)
    assert settings.telegram_bot_token.get_secret_value() == TOKEN
    for shown in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert TOKEN not in shown and "very-secret" not in shown


def test_token_never_in_an_error_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("CITEBOT_ANSWER_SENTENCES", "abc")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "ANSWER_SENTENCES" in str(raised.value) and "very-secret" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize("bad", [123456, ["123456:AAE-very-secret-token"], {"token": "very-secret"}])
def test_malformed_token_is_named_but_not_echoed(bad: object) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(telegram_bot_token=bad)
    assert "TELEGRAM_BOT_TOKEN" in str(raised.value)
    assert "very-secret" not in str(raised.value) and "123456" not in str(raised.value)


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.answer_sentences = 5  # type: ignore[misc]
    assert isinstance(settings, Settings) and settings.answer_sentences == 3


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("CORPUS_DIR", "/old/name", "corpus_dir", Path("/old/name")),
        ("WORKERS", "2", "workers", 2),
        ("ADMIN_IDS", "7,8", "admin_ids", frozenset({7, 8})),
        ("LOG_LEVEL", "DEBUG", "log_level", "DEBUG"),
    ],
)
def test_old_names_still_work_for_one_release_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.warns(DeprecatedSetting, match=f"{variable} is deprecated.*CITEBOT_{variable}"):
        settings = load_settings()
    assert getattr(settings, field) == expected


def test_the_prefixed_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "2")
    monkeypatch.setenv("CITEBOT_WORKERS", "3")
    with pytest.warns(DeprecatedSetting):
        assert load_settings().workers == 3


@pytest.mark.parametrize("value", ["en_US:en", "klingon", "C.UTF-8"])
def test_the_desktop_language_variable_is_never_read(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LANGUAGE", value)
    assert load_settings().languages == "auto"


# Whether each is supported is checked once, by Languages.parse, as `citebot` reads its settings (tests/test_cli.py).
@pytest.mark.parametrize(
    ("value", "expected"),
    [("auto", "auto"), ("", "auto"), ("EN, ru", "en,ru"), ("kk", "kk"), ("English, Russian", "english,russian")],
)
def test_languages_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("CITEBOT_LANGUAGES", value)
    assert load_settings().languages == expected


def test_env_file_that_is_not_utf8_is_named_in_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"# caf\xe9 settings\nCITEBOT_WORKERS=1\n")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == ".env: not UTF-8 text (byte 0xe9 at offset 5)"


# ---- feedback database and webhook ---------------------------------------------------------------


def test_feedback_db_defaults_beside_the_cache_and_empty_disables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_CACHE_DIR", "/var/cache/citebot")
    assert load_settings(_env_file=None).feedback_path() == Path("/var/cache/citebot-feedback.sqlite3")
    monkeypatch.setenv("CITEBOT_FEEDBACK_DB", "/data/fb.sqlite3")
    assert load_settings(_env_file=None).feedback_path() == Path("/data/fb.sqlite3")
    monkeypatch.setenv("CITEBOT_FEEDBACK_DB", "")
    assert load_settings(_env_file=None).feedback_path() is None


def test_webhook_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(_env_file=None)
    assert settings.webhook_url is None and settings.webhook_secret is None
    monkeypatch.setenv("CITEBOT_WEBHOOK_URL", "https://bot.example.org/tg-hook")
    monkeypatch.setenv("CITEBOT_WEBHOOK_SECRET", "s3cret_-X")
    monkeypatch.setenv("CITEBOT_WEBHOOK_PORT", "8080")
    settings = load_settings(_env_file=None)
    assert settings.webhook_url == "https://bot.example.org/tg-hook" and settings.webhook_port == 8080
    assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == "s3cret_-X"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"CITEBOT_WEBHOOK_URL": "https://bot.example.org/hook"}, "CITEBOT_WEBHOOK_SECRET: Value error, required when"),
        (
            {"CITEBOT_WEBHOOK_URL": "https://bot.example.org/hook", "CITEBOT_WEBHOOK_SECRET": " "},
            "CITEBOT_WEBHOOK_SECRET",
        ),
        ({"CITEBOT_WEBHOOK_URL": "http://bot.example.org/hook", "CITEBOT_WEBHOOK_SECRET": "abc"}, "https://"),
        ({"CITEBOT_WEBHOOK_URL": "https://b.org/h", "CITEBOT_WEBHOOK_SECRET": "no spaces!"}, "A-Z, a-z, 0-9"),
        ({"CITEBOT_WEBHOOK_PORT": "0"}, "CITEBOT_WEBHOOK_PORT"),
    ],
)
def test_bad_webhook_settings_are_named_and_the_secret_never_echoed(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert message in str(error.value)
    assert "no spaces!" not in str(error.value)


def test_env_example_as_is_records_feedback_and_polls() -> None:
    settings = load_settings(_env_file=Path(__file__).resolve().parent.parent / ".env.example")
    assert settings.feedback_path() == Path(".cache/citebot-feedback.sqlite3")
    assert settings.webhook_url is None and settings.webhook_secret is None


@pytest.mark.parametrize(
    "value, channels",
    [
        ("-1001234567890,@Press_KZ", {"-1001234567890", "press_kz"}),
        (" @press_kz ; https://t.me/zorbak_news ", {"press_kz", "zorbak_news"}),
        ("", set()),
    ],
)
def test_channels_are_ids_or_usernames_in_either_form(
    monkeypatch: pytest.MonkeyPatch, value: str, channels: set[str]
) -> None:
    monkeypatch.setenv("CITEBOT_CHANNELS", value)
    assert load_settings(_env_file=None).channels == channels


@pytest.mark.parametrize("value", ["press kz", "@ab", "12345"])
def test_a_channel_that_is_neither_an_id_nor_a_username_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CITEBOT_CHANNELS", value)
    with pytest.raises(SettingsError, match="CITEBOT_CHANNELS"):
        load_settings(_env_file=None)
