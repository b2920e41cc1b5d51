"""The portal's tunables (``SCF_PORTAL_*``), apart from the API's: sessions and sign-in."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCF_PORTAL_", extra="ignore")

    # a session ends after this long without a request, and this long after sign-in anyway
    session_idle_seconds: int = Field(default=30 * 60, ge=1)
    session_absolute_seconds: int = Field(default=12 * 3600, ge=1)
    # sign-in attempts: a burst, then one more per refill interval; per account (e-mail)
    # and per client address, so neither a guessed password nor a sprayed one goes fast
    sign_in_burst_per_account: int = Field(default=5, ge=1)
    sign_in_refill_seconds_per_account: float = Field(default=60.0, gt=0)
    sign_in_burst_per_client: int = Field(default=20, ge=1)
    sign_in_refill_seconds_per_client: float = Field(default=6.0, gt=0)
    # the cookie's Secure flag; off only for plain-HTTP development on loopback
    # (browsers keep Secure cookies from http://localhost, but not from http://127.0.0.1)
    secure_cookie: bool = True


@lru_cache
def get_portal_settings() -> PortalSettings:
    return PortalSettings()
