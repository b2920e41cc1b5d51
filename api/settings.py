"""The API's settings, from ``SCF_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.services.webhook_targets import parse_networks

DOCUMENT_JSON_SLACK = 64 * 1024  # a document upload's JSON beside its base64 content


class Settings(BaseSettings):
    """Tunables of the running API. Where the node lives, its database and its ports are
    the node's business (``scf-node start`` options, ``SCF_HOME``, ``SCF_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="SCF_", extra="ignore")

    # integration: Server-Sent Events and webhooks
    events_poll_seconds: float = 0.5  # how often the node looks for new events to stream
    events_max_streams_per_member: int = Field(default=8, ge=1)  # then 429
    events_max_streams: int = Field(default=200, ge=1)  # open at once in one API process
    webhook_interval_seconds: float = 1.0  # between dispatcher passes
    webhook_timeout_seconds: float = 10.0  # per delivery attempt
    webhook_max_attempts: int = 12  # then a delivery is marked failed
    webhook_backoff_seconds: int = 10  # first retry delay; doubles per attempt, with jitter
    # largest request body of any route but POST /v1/documents (1 MiB), and the deepest
    # JSON nesting of any body; both checked before anything reads or parses it
    body_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    json_max_depth: int = Field(default=32, ge=4, le=1000)
    # seconds a request's whole body may take once its headers are in: a body trickled
    # or stalled holds a connection and, for a member's write, a place in the bounds
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # networks webhooks may deliver to besides public addresses (comma-separated addresses
    # or networks, e.g. "10.20.0.0/16"); empty: loopback, private, link-local … are refused
    webhook_allowed_networks: str = ""
    # delivery attempts under way at once: in all, and for one member's webhooks, so one
    # member's slow or dead receivers never hold up another member's deliveries
    webhook_workers: int = Field(default=16, ge=1)
    webhook_workers_per_member: int = Field(default=4, ge=1)
    # largest document plaintext POST /v1/documents stores (10 MiB)
    document_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    # a holder's share of a core enterprise's outstanding value that raises an alert
    concentration_share: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    # ... assessed once that many members hold its paper: a core enterprise's first
    # certificate is all held by one supplier, which is no finding
    concentration_min_holders: int = Field(default=2, ge=1)
    # POST /v1/members/applications per client address: a burst, then a steady refill
    application_burst: int = Field(default=5, ge=1)
    application_refill_per_minute: float = Field(default=1.0, ge=0)
    # reverse proxies whose X-Forwarded-For / -Proto name the client (comma-separated
    # addresses or networks); empty: none, so no caller can pose as another address
    trusted_proxies: str = ""
    # capacity (api.admission): worker threads, and how much runs at once before a request
    # is refused (503, or 429 for one caller's writes) with Retry-After
    worker_threads: int = Field(default=64, ge=4)
    requests_max_in_flight: int = Field(default=96, ge=1)
    writes_max_in_flight: int = Field(default=48, ge=1)  # fewer than worker_threads
    writes_max_in_flight_per_caller: int = Field(default=16, ge=1)
    # the last share of writes_max_in_flight kept for callers with at most one write
    # running, so that a few callers at their own bound never shut out the rest
    writes_reserved_percent: int = Field(default=25, ge=0, le=90)
    writes_max_queued: int = Field(default=256, ge=1)  # accepted with ?wait=false, not done
    overload_retry_after_seconds: int = Field(default=1, ge=1)
    # the longest a member's read with X-Min-Block waits for the read model to index that block
    # (api.read_freshness), then 503 read_model_behind with Retry-After
    read_min_block_wait_seconds: float = Field(default=5.0, ge=0, le=30)

    @model_validator(mode="after")
    def _writes_leave_threads_for_reads(self) -> Settings:
        if self.writes_max_in_flight >= self.worker_threads:
            raise ValueError(
                f"writes_max_in_flight ({self.writes_max_in_flight}) must be below "
                f"worker_threads ({self.worker_threads}): reads need threads while writes "
                "wait for their blocks"
            )
        if self.writes_max_in_flight > self.requests_max_in_flight:
            raise ValueError("writes_max_in_flight may not exceed requests_max_in_flight")
        return self

    @property
    def document_body_max_bytes(self) -> int:
        """The largest POST /v1/documents body: a maximal document in base64 (3 bytes
        become 4 characters) and the small JSON around it."""
        return max(self.body_max_bytes, self.document_max_bytes * 4 // 3 + DOCUMENT_JSON_SLACK)

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # refuse a typo at start, not at the first delivery
        return value


@cache
def get_settings() -> Settings:
    """Settings read once; tests override the FastAPI dependency instead of the environment."""
    return Settings()


def settings_of(app: Any) -> Settings:
    """The settings of ``app`` (a FastAPI app) where no dependency can reach them (ASGI
    middleware, a route class): ``get_settings`` or the override a test gave."""
    provider = app.dependency_overrides.get(get_settings, get_settings)
    settings: Settings = provider()
    return settings
