"""Bodies of the integration routes: chain events (SSE data, webhook body) and webhooks."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, HttpUrl

from api.schemas.common import UtcDateTime

MAX_EVENT_TYPES = 64


class EventPublic(BaseModel):
    """One chain event or risk alert, as the data of a Server-Sent Event and as a webhook's
    body."""

    id: str = Field(description="'<block>-<logIndex>': the event's place in ledger order")
    block_number: int
    log_index: int
    transaction_hash: str | None = Field(
        description="the event's transaction; of a RiskAlert, the transaction whose event "
        "raised it (null when a refused request did)"
    )
    contract: str | None = Field(
        description="the emitting contract, e.g. 'CreditCertificates'; null for a RiskAlert"
    )
    name: str = Field(
        description="the Solidity event's name, e.g. 'CertificateSplit', or 'RiskAlert'"
    )
    args: dict[str, Any] = Field(
        description="the event's arguments by their Solidity names; money as decimal "
        "strings with 2 fraction digits, other integers as numbers, bytes as 0x-hex. Times "
        "stay the contract's raw values: Unix seconds (e.g. maturity, expiresAt, dueDate)"
    )


def _no_credentials(url: HttpUrl) -> HttpUrl:
    if url.username or url.password:
        raise ValueError("a webhook URL must not carry credentials; verify the signature instead")
    return url


WebhookUrl = Annotated[HttpUrl, AfterValidator(_no_credentials)]


class WebhookCreate(BaseModel):
    url: WebhookUrl = Field(description="http(s) URL that receives a POST per event")
    event_types: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default=[],
        max_length=MAX_EVENT_TYPES,
        description="event names to receive, e.g. ['CertificateSplit']; empty: all",
    )


class WebhookPublic(BaseModel):
    id: int
    url: str
    event_types: list[str] = Field(description="empty: every event the member may see")
    created_at: UtcDateTime


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="HMAC-SHA256 key of X-SCF-Signature; shown only in this response"
    )


class WebhookList(BaseModel):
    items: list[WebhookPublic]
    total: int
    limit: int
    offset: int


class DeliveryPublic(BaseModel):
    id: int = Field(description="also sent as X-SCF-Delivery-Id")
    event_id: str = Field(description="also sent as X-SCF-Event-Id; receivers dedupe on it")
    event_name: str
    state: str = Field(description="pending | delivered | failed")
    attempts: int
    last_status_code: int | None = Field(description="HTTP status of the last attempt")
    last_error: str | None
    created_at: UtcDateTime
    next_attempt_at: UtcDateTime | None = Field(description="set while pending")
    delivered_at: UtcDateTime | None


class DeliveryList(BaseModel):
    items: list[DeliveryPublic]
    total: int
    limit: int
    offset: int
