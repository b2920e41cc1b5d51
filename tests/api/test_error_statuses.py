"""The chain layer's domain errors answer with the HTTP status and error code of the API's
one table (``api.errors``), whatever route raised them; contract reverts by their name."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import FORBIDDEN_REVERTS, UNPROCESSABLE_REVERTS, install_error_handlers, status_of
from chain.artifacts import all_artifacts
from chain.consortium.block_log import BlockLogError, BlockTooLarge, LogMismatch
from chain.consortium.etcd import (
    EtcdCompacted,
    EtcdError,
    EtcdLeaseNotFound,
    EtcdRequestRejected,
    EtcdResponseTooLarge,
    EtcdUnavailable,
)
from chain.credit_code import InvalidCreditCode
from chain.errors import (
    ArtifactError,
    ConfigurationError,
    ContractRevert,
    LedgerError,
    LedgerFeatureUnsupported,
    LedgerUnreachable,
    NodeCannotSubmit,
    ReceiptTimeout,
    ScfError,
    TransactionDropped,
    TransactionRefused,
    UnknownBackendError,
)
from chain.invoice_key import InvalidInvoiceIdentity
from chain.pricing import PricingError
from chain.txmanager import IdempotencyConflict, TransactionSuperseded

# what every one of these answered when the status was an attribute of the error itself
ANSWERS: list[tuple[ScfError, int, str]] = [
    (ScfError("x"), 500, "scf_error"),
    (ConfigurationError("x"), 500, "configuration_error"),
    (UnknownBackendError("x"), 500, "unknown_backend"),
    (ArtifactError("x"), 500, "artifact_error"),
    (LedgerError("x"), 503, "ledger_error"),
    (LedgerUnreachable("x"), 503, "ledger_error"),
    (LedgerFeatureUnsupported("x"), 501, "ledger_feature_unsupported"),
    (ReceiptTimeout("x"), 504, "receipt_timeout"),
    (TransactionDropped("x"), 409, "transaction_dropped"),
    (TransactionRefused("x"), 422, "transaction_refused"),
    # a learner, a node not on the allow-list yet: a conflict of this node, not overload
    (NodeCannotSubmit("x"), 409, "node_cannot_submit"),
    (EtcdError("x"), 503, "etcd_error"),
    (EtcdUnavailable("x", sent=False), 503, "etcd_unavailable"),
    (EtcdCompacted("x"), 503, "etcd_compacted"),
    (EtcdLeaseNotFound("x"), 503, "etcd_lease_not_found"),
    (EtcdRequestRejected("x"), 500, "etcd_request_rejected"),
    (EtcdResponseTooLarge("x"), 502, "etcd_response_too_large"),
    (BlockLogError("x"), 503, "block_log_error"),
    (BlockTooLarge("x"), 413, "block_too_large"),
    (LogMismatch("x"), 500, "block_log_mismatch"),
    (IdempotencyConflict("x"), 422, "idempotency_conflict"),
    (TransactionSuperseded("x"), 409, "transaction_superseded"),
    (PricingError("x"), 422, "invalid_pricing"),
    (InvalidCreditCode("x"), 422, "invalid_credit_code"),
    (InvalidInvoiceIdentity("x"), 422, "invalid_invoice_identity"),
    (ContractRevert("InvoiceAlreadyFinanced"), 409, "contract_revert"),
    (ContractRevert("CertificateInvalidAmount"), 422, "contract_revert"),
    (ContractRevert("MemberUnauthorizedAccount"), 403, "contract_revert"),
]


@pytest.mark.parametrize(
    ("error", "status", "code"), ANSWERS, ids=[f"{type(e).__name__}-{s}" for e, s, _ in ANSWERS]
)
def test_each_domain_error_has_its_status(error: ScfError, status: int, code: str) -> None:
    assert (status_of(error), error.code) == (status, code)


def test_a_raised_domain_error_answers_with_the_table_s_status_and_code() -> None:
    app = FastAPI()
    install_error_handlers(app)
    answers = [a for a in ANSWERS if not isinstance(a[0], LedgerUnreachable)]  # needs a node

    @app.get("/raise/{index}")
    def raise_it(index: int) -> None:
        raise answers[index][0]

    with TestClient(app, raise_server_exceptions=False) as client:
        for index, (_, status, code) in enumerate(answers):
            response = client.get(f"/raise/{index}")
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_an_error_the_chain_layer_adds_later_falls_back_to_its_family() -> None:
    class NewLedgerProblem(LedgerError):
        code = "new_ledger_problem"

    assert status_of(NewLedgerProblem("x")) == 503


def _abi_error_names() -> set[str]:
    return {
        item["name"]
        for artifact in all_artifacts()
        for item in artifact.abi
        if item.get("type") == "error"
    }


def test_the_revert_tables_name_only_errors_the_contracts_have() -> None:
    names = _abi_error_names()
    assert names >= UNPROCESSABLE_REVERTS, UNPROCESSABLE_REVERTS - names
    assert names >= FORBIDDEN_REVERTS, FORBIDDEN_REVERTS - names


def test_every_unauthorized_revert_of_the_contracts_answers_403() -> None:
    # EIP-6093 naming: <Domain>Unauthorized<Who> is a refusal of the caller
    unauthorized = {name for name in _abi_error_names() if "Unauthorized" in name}
    assert unauthorized <= FORBIDDEN_REVERTS, unauthorized - FORBIDDEN_REVERTS
