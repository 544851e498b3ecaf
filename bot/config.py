"""Settings, read once from the environment and `.env` by `main` and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Language = Literal["english", "russian"]
IdList = Annotated[frozenset[int], NoDecode]


class Settings(BaseSettings):
    """Every knob citebot has; names match the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    corpus_dir: Path = Path("corpus")
    cache_dir: Path = Path(".cache/citebot")
    language: Language = "english"
    answer_sentences: int = Field(default=3, ge=1, le=10)
    min_confidence: float = Field(default=0.2, ge=0.0, le=1.0)
    workers: int = Field(default=0, ge=0, le=64)

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    admin_ids: IdList = frozenset()
    allowed_user_ids: IdList = frozenset()
    allowed_chat_ids: IdList = frozenset()
    user_rate_limit: int = Field(default=10, ge=1)
    user_rate_period: float = Field(default=60.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    def loader_options(self) -> dict[str, Any]:
        """The keyword arguments `load_library` takes from these settings."""
        return {"language": self.language, "workers": self.workers}

    def answer_options(self) -> dict[str, Any]:
        """The keyword arguments `answer` takes from these settings."""
        return {"max_quotes": self.answer_sentences, "min_confidence": self.min_confidence}

    @field_validator("admin_ids", "allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        # Accept both `1,2,3` and `[1,2,3]`, the two ways people write lists in .env files.
        if isinstance(value, str):
            text = value.strip().removeprefix("[").removesuffix("]")
            return frozenset(int(part) for part in text.replace(";", ",").split(",") if part.strip())
        return value

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class SettingsError(Exception):
    """A setting has a value citebot cannot use; the message names the variable."""


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment, turning validation errors into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
            # Never echo a secret back, even a malformed one.
            shown = "" if "TOKEN" in name else f" (got {error.get('input')!r})"
            lines.append(f"{name}: {error['msg']}{shown}")
        raise SettingsError("bad setting: " + "; ".join(lines)) from None
