"""The API's settings, from ``SCF_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCF_", extra="ignore")

    home: Path = Path(".scf")
    database_url: str | None = None  # default: SQLite file in the node home
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'scf.db'}"


@cache
def get_settings() -> Settings:
    """Settings read once; tests override the FastAPI dependency instead of the environment."""
    return Settings()
