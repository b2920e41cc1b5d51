"""The test app's services where a test needs one that a node always has (``ApiServices``
types them optional: a read replica has no writer)."""

from __future__ import annotations

from typing import Any

from api.services.container import services_of
from api.services.documents import DocumentVault
from api.services.writer import LedgerWriter


def node_vault(app: Any) -> DocumentVault:
    vault = services_of(app).document_vault
    assert vault is not None, "the test app was built with a document vault"
    return vault


def node_writer(app: Any) -> LedgerWriter:
    writer = services_of(app).writer
    assert writer is not None, "the test app was built with a ledger writer"
    return writer
