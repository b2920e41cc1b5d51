"""The error root of SCF Chain and the chain layer's families of errors.

Every error a user can meet is an ``ScfError`` with a stable ``code``. These are domain
errors: the chain layer knows nothing of HTTP, and the API maps each family to a status
and its JSON error shape in one table (``api.errors``).
"""

from __future__ import annotations

from typing import Any


class ScfError(Exception):
    """Root of every SCF Chain error: a stable code, a message and details."""

    code: str = "scf_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class ConfigurationError(ScfError):
    """The platform was configured with something it cannot use."""

    code = "configuration_error"


class UnknownBackendError(ConfigurationError):
    code = "unknown_backend"


class ArtifactError(ConfigurationError):
    """A compiled contract artifact is missing or malformed."""

    code = "artifact_error"


class LedgerError(ScfError):
    """The ledger could not do what was asked (connection, timeout, unsupported feature)."""

    code = "ledger_error"


class LedgerUnreachable(LedgerError):
    """The ledger did not answer at all (its process is down or restarting): the same
    ``ledger_error`` to clients, and one log line per outage (``api.processes``)."""


class LedgerFeatureUnsupported(LedgerError):
    code = "ledger_feature_unsupported"


class ReceiptTimeout(LedgerError):
    code = "receipt_timeout"


class TransactionDropped(LedgerError):
    """The ledger took a transaction but left it out of its block: it will never be mined."""

    code = "transaction_dropped"


class TransactionRefused(LedgerError):
    """The ledger refused a signed transaction before any block (nonce, funds, permission)."""

    code = "transaction_refused"


class NodeCannotSubmit(TransactionRefused):
    """The node takes no transactions at all (a consortium learner, or a node not on the
    NodeRegistry allow-list yet): nothing was queued; send through a validator's node."""

    code = "node_cannot_submit"


class ContractRevert(ScfError):
    """A contract call or transaction reverted; ``error_name`` is the custom error's name.

    ``error_args`` holds the error's arguments by name, decoded from the ABI,
    so callers match on names and values, never on message text.
    """

    code = "contract_revert"

    def __init__(
        self,
        error_name: str,
        error_args: dict[str, Any] | None = None,
        *,
        data: bytes = b"",
        tx_hash: bytes | None = None,
    ) -> None:
        self.error_name = error_name
        self.error_args: dict[str, Any] = dict(error_args or {})
        self.data = data
        self.tx_hash = tx_hash
        rendered = ", ".join(f"{k}={jsonable(v)}" for k, v in self.error_args.items())
        super().__init__(
            f"{error_name}({rendered})",
            details={
                "error": error_name,
                "args": {k: jsonable(v) for k, v in self.error_args.items()},
            },
        )

    @property
    def args_tuple(self) -> tuple[Any, ...]:
        return tuple(self.error_args.values())


def jsonable(value: Any) -> Any:
    """Decoded ABI values made readable in messages and JSON (bytes as 0x-hex)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
