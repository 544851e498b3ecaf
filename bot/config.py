"""Settings, read once from the environment and `.env` by `main` and passed down."""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from bot.ingest.corpus import MAX_FILE_MB

IdList = Annotated[frozenset[int], NoDecode]
PREFIX = "CITEBOT_"
ENV_FILE = ".env"
# Telegram's own names are kept as every Telegram bot spells them; everything else carries the prefix.
UNPREFIXED = frozenset({"telegram_bot_token", "telegram_base_url", "telegram_base_file_url"})
# Names read before the prefix, honoured for one more release. LANGUAGE is not among them: desktops set
# it to "en_US:en", and reading it broke every command there.
LEGACY = frozenset(
    {
        "corpus_dir",
        "cache_dir",
        "answer_sentences",
        "min_confidence",
        "workers",
        "admin_ids",
        "allowed_user_ids",
        "allowed_chat_ids",
        "user_rate_limit",
        "user_rate_period",
        "log_level",
    }
)
# The benchmark data sets `citebot fit`, `bench-languages` and `make eval` read (never copied into the project).
BENCHMARKS_DIR = Path("../shared/benchmarks")
BENCHMARKS_HELP = f"the benchmarks folder (default: {PREFIX}BENCHMARKS_DIR, else {BENCHMARKS_DIR})"
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class DeprecatedSetting(FutureWarning):
    """A setting was given by its old, unprefixed name; shown by default, unlike DeprecationWarning."""


class SettingsError(Exception):
    """A setting has a value citebot cannot use; the message names the variable."""


def env_name(field: str) -> str:
    """The environment variable a setting is read from."""
    return field.upper() if field in UNPREFIXED else PREFIX + field.upper()


def read_env_file(path: Path) -> dict[str, str | None]:
    """The variables of a .env file; raise SettingsError naming the file and byte of anything not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    return dict(dotenv_values(stream=io.StringIO(text)))


class LegacyNames(PydanticBaseSettingsSource):
    """Settings given by their pre-prefix names (`CORPUS_DIR`…), each with a deprecation warning."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Path | None) -> None:
        super().__init__(settings_cls)
        self.env_file = env_file

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` reads every legacy name at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {k.upper(): v for k, v in (read_env_file(self.env_file) if self.env_file else {}).items()}
        found.update({k.upper(): v for k, v in os.environ.items()})
        values = {}
        for field in sorted(LEGACY):
            value = found.get(field.upper())
            if value is None:
                continue
            warnings.warn(
                f"{field.upper()} is deprecated and will stop working in the next release; "
                f"set {env_name(field)} instead",
                DeprecatedSetting,
                stacklevel=2,
            )
            values[field] = value
        return values


class Settings(BaseSettings):
    """Every knob citebot has; each read from the variable `env_name` gives (CITEBOT_… or TELEGRAM_…)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    corpus_dir: Path = Path("corpus")
    cache_dir: Path = Path(".cache/citebot")
    # "auto": each document and question in the language it is written in; or a comma list of ISO 639-1 codes.
    languages: str = "auto"
    answer_sentences: int = Field(default=3, ge=1, le=10)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)  # None: the ranker's threshold
    # Rank with word embeddings too (the `semantic` extra). Off by default: see docs/quality.md.
    semantic: bool = False
    workers: int = Field(default=0, ge=0, le=64)
    max_file_mb: float = Field(default=MAX_FILE_MB, gt=0)
    # Largest file an admin may add by sending it to the bot; Telegram lets bots download 20 MB at most anyway.
    max_upload_mb: float = Field(default=20.0, gt=0)
    # Sharded search on Dask (the `cluster` extra): tcp://host:8786, or "local" for two workers on 127.0.0.1.
    dask_scheduler: str = ""
    shards: int = Field(default=4, ge=1, le=1024)
    benchmarks_dir: Path = BENCHMARKS_DIR
    # A remote scheduler is reached over tls:// with these files; a plain tcp:// one only if explicitly allowed.
    dask_tls_ca: Path | None = None
    dask_tls_cert: Path | None = None
    dask_tls_key: Path | None = None
    dask_allow_plain: bool = False

    telegram_bot_token: SecretStr | None = Field(default=None, validation_alias="telegram_bot_token")
    telegram_base_url: str = Field(default="https://api.telegram.org/bot", validation_alias="telegram_base_url")
    telegram_base_file_url: str = Field(
        default="https://api.telegram.org/file/bot", validation_alias="telegram_base_file_url"
    )
    admin_ids: IdList = frozenset()
    allowed_user_ids: IdList = frozenset()
    allowed_chat_ids: IdList = frozenset()
    user_rate_limit: int = Field(default=10, ge=1)
    user_rate_period: float = Field(default=60.0, gt=0)
    # A question within this many minutes of the last one may lean on it ("And in which years?"); 0: never.
    followup_minutes: float = Field(default=5.0, ge=0, le=1440)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Unset: beside the cache folder; empty: nothing is recorded.
    feedback_db: str | None = None
    # Set: updates arrive by webhook at this https URL (its path is served) instead of long polling.
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    # Websites as a source (`citebot sync`, /sync): the sources file, the schedule (0: off), politeness, safety.
    sources: Path = Path("sources.yml")
    sync_minutes: float = Field(default=60.0, ge=0)
    sync_delay: float = Field(default=1.0, ge=0, le=600)
    user_agent: str = ""  # a contact URL added to the User-Agent, so a site's admin can reach the bot's
    allow_private_addresses: bool = False
    # Files copied into the corpus folder are read without /reload.
    watch: bool = True
    # Telegram channels whose posts become documents: ids (-1001234567890) and @usernames, comma-separated.
    channels: Annotated[frozenset[str], NoDecode] = frozenset()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then CITEBOT_/TELEGRAM_ variables, then `.env`, then the old names, last."""
        env_file = getattr(dotenv_settings, "env_file", None)
        legacy = LegacyNames(settings_cls, Path(env_file) if isinstance(env_file, (str, Path)) else None)
        return init_settings, env_settings, dotenv_settings, legacy

    def loader_options(self) -> dict[str, Any]:
        """The keyword arguments `load_library` takes from these settings."""
        return {"languages": self.languages, "workers": self.workers, "max_file_mb": self.max_file_mb}

    def answer_options(self) -> dict[str, Any]:
        """The keyword arguments `answer` takes from these settings."""
        return {"max_quotes": self.answer_sentences, "min_confidence": self.min_confidence, "semantic": self.semantic}

    def feedback_path(self) -> Path | None:
        """Where the feedback database is, or None when recording is disabled."""
        if self.feedback_db is None:
            return self.cache_dir.with_name(self.cache_dir.name + "-feedback.sqlite3")
        return Path(self.feedback_db) if self.feedback_db.strip() else None

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _check_webhook_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None
            if value is not None and not value.startswith("https://"):
                raise ValueError("Telegram sends webhooks only to https:// URLs")
        return value

    @field_validator("webhook_secret", mode="after")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        secret = value.get_secret_value() if value is not None else ""
        if info.data.get("webhook_url") and not secret:
            raise ValueError("required when CITEBOT_WEBHOOK_URL is set (1-256 characters: A-Z, a-z, 0-9, _ and -)")
        if secret and not WEBHOOK_SECRET.match(secret):
            raise ValueError("must be 1-256 characters, each A-Z, a-z, 0-9, _ or - (Telegram's rule)")
        return value if secret else None

    @field_validator("languages", mode="before")
    @classmethod
    def _normalize_languages(cls, value: object) -> object:
        # Only tidied here: which languages are supported is for Languages.parse to say, which knows the
        # analyzers (config comes before them); `citebot` checks the setting with it as it reads the settings.
        if isinstance(value, str):
            return value.strip().lower().replace(" ", "") or "auto"
        return value

    @field_validator("admin_ids", "allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        # Accept both `1,2,3` and `[1,2,3]`, the two ways people write lists in .env files.
        if isinstance(value, str):
            text = value.strip().removeprefix("[").removesuffix("]")
            return frozenset(int(part) for part in text.replace(";", ",").split(",") if part.strip())
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _parse_channels(cls, value: object) -> object:
        # Kept as written, tidied: "-1001234567890" or a username without its @, lower-cased (Telegram ignores case).
        if isinstance(value, str):
            value = value.strip().removeprefix("[").removesuffix("]").replace(";", ",").split(",")
        if isinstance(value, (list, tuple, set, frozenset)):
            names = set()
            for part in (str(item).strip().strip("'\"") for item in value):
                if not part:
                    continue
                name = part.removeprefix("https://t.me/").removeprefix("@").lower()
                if not re.fullmatch(r"-100\d{5,}|[a-z][a-z0-9_]{3,31}", name):
                    raise ValueError(f"{part!r} is neither a channel id (-1001234567890) nor a @username")
                names.add(name)
            return frozenset(names)
        return value

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment, turning validation errors into one readable message."""
    env_file = overrides.get("_env_file", ENV_FILE)
    if isinstance(env_file, (str, Path)):
        read_env_file(Path(env_file))  # a .env that is not UTF-8 is named here, in one line
    try:
        # The overrides are settings by name (and pydantic-settings' own `_env_file`), each validated by Settings.
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            name = env_name(field) if field else "settings"
            # Never echo a secret back, even a malformed one.
            shown = "" if "TOKEN" in name or "SECRET" in name else f" (got {error.get('input')!r})"
            lines.append(f"{name}: {error['msg']}{shown}")
        raise SettingsError("bad setting: " + "; ".join(lines)) from None
