"""A small Python client of the SCF Chain REST API for member enterprises and scripts.

Every POST carries an ``Idempotency-Key`` (a fresh UUID unless the caller gives one),
so a request that failed on the network is retried with the same key and can never
act twice. Errors come back as :class:`ApiError` with the API's stable code.

    client = ScfClient("http://127.0.0.1:8000", api_key)
    invoice = client.register_invoice(invoice_code="4403123400", invoice_number="00000001", ...)

A ``503`` or ``429`` (the node refusing work beyond its capacity, or the member's rate
limit) is retried after the ``Retry-After`` it names plus a random share of it, so
clients that were refused together do not come back together; a POST is retried under
the same key, so it still acts at most once.

Given the node's read replica (``read_url``, from ``node.run.json`` or ``scf-node
status``), GETs go there, where writes do not slow them down, and to the primary while
the replica cannot be reached (the node starts it again when it ends). A 201 from the
primary is already in what the replica reads.
"""

from __future__ import annotations

import base64
import random
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

JsonObject = dict[str, Any]


class ApiError(Exception):
    """An error answer of the API: HTTP status plus the error shape's code and details."""

    def __init__(self, status: int, code: str, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details)


class ScfClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        read_url: str | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._reads: httpx.Client | None = None
        if read_url is not None:
            self._reads = httpx.Client(base_url=read_url, headers=headers, timeout=timeout)
        self._retries = retries
        self.last_headers: httpx.Headers = httpx.Headers()  # e.g. X-Transaction-Hash
        self.last_url: httpx.URL | None = None  # where the last answer came from

    def close(self) -> None:
        self._http.close()
        if self._reads is not None:
            self._reads.close()

    def __enter__(self) -> ScfClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        min_block: int | None = None,
    ) -> Any:
        """Send one request; retried on network errors and on 503/429 (a POST under one key).
        ``min_block``: a read answered from a read model that has indexed that block (a
        write's ``X-Block-Number``, through any node; ``api.read_freshness``)."""
        headers = {}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        if min_block is not None:
            headers["X-Min-Block"] = str(min_block)
        attempts = self._retries + 1 if method in ("GET", "POST") else 1
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                response = self._send(method, path, json, params, headers)
            except httpx.TransportError:
                if last:
                    raise
                time.sleep(0.2 * 2**attempt)
                continue
            if last or response.status_code not in _BUSY_STATUSES:
                break
            time.sleep(_busy_delay(response, attempt))
        self.last_headers = response.headers
        self.last_url = response.url
        if response.is_error:
            raise _api_error(response)
        if not response.content:
            return None
        return response.json()

    def _send(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        if method == "GET" and self._reads is not None:
            try:
                return self._reads.request(method, path, params=params, headers=headers)
            except httpx.TransportError:
                pass  # the replica is down or restarting: the primary answers the same
        return self._http.request(method, path, json=json, params=params, headers=headers)

    def get(self, path: str, *, min_block: int | None = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query, min_block=min_block)

    @property
    def last_block(self) -> int | None:
        """The block of the last write's transaction (``X-Block-Number``), if it sent one:
        what to read at least as fresh as through another node (``get(min_block=...)``)."""
        value = self.last_headers.get("X-Block-Number")
        return int(value) if value is not None else None

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        return self.request("POST", path, json=body, idempotency_key=idempotency_key)

    # --- members and onboarding -----------------------------------------------------

    def apply(self, name: str, credit_code: str, roles: list[str], contact: str = "") -> Any:
        body = {"name": name, "credit_code": credit_code, "roles": roles, "contact": contact}
        return self.post("/v1/members/applications", body)

    def me(self) -> Any:
        return self.get("/v1/members/me")

    def wait_until_admitted(self, timeout: float = 30.0, interval: float = 0.2) -> Any:
        """The caller's member record, once the node has indexed its admission: an API key
        issued with an application answers 403 until then. Any other error, or a 403
        still after ``timeout`` seconds, is raised."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.me()
            except ApiError as exc:
                if exc.status != 403 or time.monotonic() > deadline:
                    raise
            time.sleep(interval)

    def members(self, **filters: Any) -> Any:
        return self.get("/v1/members", **filters)

    # --- governance -----------------------------------------------------------------

    def proposals(self, **filters: Any) -> Any:
        return self.get("/v1/governance/proposals", **filters)

    def proposal(self, proposal_id: int) -> Any:
        return self.get(f"/v1/governance/proposals/{proposal_id}")

    def vote(self, proposal_id: int, support: str = "for") -> Any:
        return self.post(f"/v1/governance/proposals/{proposal_id}/votes", {"support": support})

    # --- documents, invoices, credit lines, certificates ----------------------------

    def store_document(
        self, content: bytes, filename: str = "", party_ids: list[int] | None = None
    ) -> Any:
        """Store a document (invoice file, agreement); its ``hash`` goes on chain."""
        body = {
            "content": base64.b64encode(content).decode("ascii"),
            "filename": filename,
            "party_ids": party_ids or [],
        }
        return self.post("/v1/documents", body)

    def register_invoice(self, **body: Any) -> Any:
        return self.post("/v1/invoices", body)

    def confirm_invoice(self, key: str) -> Any:
        return self.post(f"/v1/invoices/{key}/confirm")

    def invoices(self, **filters: Any) -> Any:
        return self.get("/v1/invoices", **filters)

    def grant_credit_line(self, borrower_id: int, limit: str, expires_on: str) -> Any:
        body = {"borrower_id": borrower_id, "limit": limit, "expires_on": expires_on}
        return self.post("/v1/credit-lines", body)

    def issue_certificate(self, **body: Any) -> Any:
        return self.post("/v1/certificates", body)

    def transfer(self, certificate_id: int, to_member_id: int, amount: str) -> Any:
        body = {"to_member_id": to_member_id, "amount": amount}
        return self.post(f"/v1/certificates/{certificate_id}/transfers", body)

    def certificates(self, **filters: Any) -> Any:
        return self.get("/v1/certificates", **filters)

    def certificate(self, certificate_id: int) -> Any:
        return self.get(f"/v1/certificates/{certificate_id}")

    def lineage(self, certificate_id: int) -> Any:
        return self.get(f"/v1/certificates/{certificate_id}/lineage")

    # --- financing, settlement, maturity --------------------------------------------

    def request_financing(self, **body: Any) -> Any:
        return self.post("/v1/financing-requests", body)

    def quote_financing(self, amount: str, rate_bps: int, **maturity: Any) -> Any:
        """``certificate_id=...`` or ``maturity="2027-03-01"``."""
        return self.get(
            "/v1/financing-requests/quote", amount=amount, rate_bps=rate_bps, **maturity
        )

    def approve_financing(self, request_id: int, rate_bps: int, agreement_hash: str) -> Any:
        body = {"rate_bps": rate_bps, "agreement_hash": agreement_hash}
        return self.post(f"/v1/financing-requests/{request_id}/approve", body)

    def mint(self, to_member_id: int, amount: str, bank_reference: str) -> Any:
        body = {"to_member_id": to_member_id, "amount": amount, "bank_reference": bank_reference}
        return self.post("/v1/settlement/mint", body)

    def pay(self, to_member_id: int, amount: str) -> Any:
        return self.post(
            "/v1/settlement/transfers", {"to_member_id": to_member_id, "amount": amount}
        )

    def balance(self) -> Any:
        return self.get("/v1/settlement/balance")

    def repay(self, root_id: int) -> Any:
        return self.post("/v1/repayments", {"root_id": root_id})

    def redeem(self, certificate_id: int) -> Any:
        return self.post(f"/v1/certificates/{certificate_id}/redeem")


# The node refused the work for now (overload, rate limit), not the request itself.
_BUSY_STATUSES = frozenset({429, 503})
_MAX_BUSY_DELAY = 30.0


def _busy_delay(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait before retrying a refused request: the node's ``Retry-After``
    (in seconds; a date or garbage counts as absent) or else a doubling backoff, plus
    up to as much again at random, never more than :data:`_MAX_BUSY_DELAY`."""
    try:
        base = float(response.headers.get("Retry-After", ""))
    except ValueError:
        base = 0.0
    if not 0 < base <= _MAX_BUSY_DELAY:
        base = min(0.5 * 2**attempt, _MAX_BUSY_DELAY)
    return min(base + random.uniform(0, base), _MAX_BUSY_DELAY)


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(
            response.status_code, error["code"], error["message"], error.get("details") or {}
        )
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", response.text[:200], {})
