"""One member's heavy transaction cannot stall another member's REST writes: the embedded
node caps the gas of one transaction far below the block's (``chain.embedded.rules``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.indexer import Indexer
from api.services.api_keys import issue_key
from api.services.custody import Custody
from api.services.writer import LedgerWriter
from chain.backends.embedded import EmbeddedLedger
from chain.deploy import MemberSpec, deploy_consortium
from chain.embedded.rpc import RpcError
from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS
from chain.embedded.vm import BLOCK_GAS_LIMIT
from chain.events import EventDecoder
from chain.roles import Role
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from tests.api.conftest import ApiWorld
from tests.helpers import Member, make_world, new_credit_code, new_signer

LOOP = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP: initcode that loops until out of gas
RECEIPT_TIMEOUT = 30.0  # the transaction manager's default, as `scf-node start` runs it


@pytest.fixture(scope="module")
def embedded_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    """An API over a consortium on the embedded ledger, with node-level permissioning."""
    home = Path(tmp_path_factory.mktemp("node"))
    ledger = EmbeddedLedger(home / "chain", dev=True, block_time=0.005)
    governor = new_signer(ledger)
    spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    consortium = deploy_consortium(ledger, governor, spec)
    world = make_world(consortium, governor)
    ledger.admit_only_members(consortium.members.address, consortium.governance.address)
    engine = make_engine(f"sqlite:///{home / 'scf.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    Indexer(sessions, ledger, EventDecoder(consortium)).sync()
    keys: dict[str, str] = {}
    with sessions.begin() as session:
        keys["bank"] = issue_key(session, world.bank.id, label="bank").key
    custody = Custody(home / "keys", passphrase="test passphrase")
    custody.store(world.bank.signer)
    txm = TransactionManager(ledger, TxStore(home / "tx.db"), receipt_timeout=RECEIPT_TIMEOUT)
    writer = LedgerWriter(txm, custody, Indexer(sessions, ledger, EventDecoder(consortium)))
    app = create_app(ledger, sessions, consortium=consortium, writer=writer)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield ApiWorld(world, sessions, client, keys, home)
    ledger.close()
    engine.dispose()


def _loop(ledger: EmbeddedLedger, member: Member, gas: int) -> str:
    """A contract creation whose code loops until its gas is gone, signed by ``member``."""
    raw, _ = member.signer.sign_transaction(
        {
            "data": LOOP,
            "value": 0,
            "gas": gas,
            "nonce": ledger.get_transaction_count(member.address, "pending"),
            "chainId": ledger.chain_id,
            **ledger.fee_params(),
        }
    )
    return "0x" + raw.hex()


def test_a_looping_transaction_does_not_stall_another_members_writes(
    embedded_world: ApiWorld,
) -> None:
    ledger = embedded_world.world.ledger
    assert isinstance(ledger, EmbeddedLedger)
    heavy = embedded_world.world.tier3  # a member signing with its own key; the bank writes

    # A loop as large as half a block is refused at submission, never mined.
    with pytest.raises(RpcError) as refused:
        ledger.handler.handle(
            "eth_sendRawTransaction", [_loop(ledger, heavy, BLOCK_GAS_LIMIT // 2)]
        )
    assert "exceeds this node's per-transaction gas cap" in refused.value.message
    assert ledger.get_transaction_count(heavy.address, "pending") == 0

    # Loops at the cap, one before and one during the bank's credit-line grants by REST.
    results: list[tuple[int, float]] = []
    expires = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()

    def grant_lines() -> None:
        for limit in ("1000.00", "2000.00", "3000.00"):
            body: dict[str, Any] = {
                "borrower_id": embedded_world.world.core.id,
                "limit": limit,
                "expires_on": expires,
            }
            started = time.monotonic()
            response = embedded_world.client.post(
                "/v1/credit-lines", json=body, headers=embedded_world.auth("bank")
            )
            results.append((response.status_code, time.monotonic() - started))

    loops = [
        ledger.handler.handle(
            "eth_sendRawTransaction", [_loop(ledger, heavy, DEFAULT_MAX_TRANSACTION_GAS)]
        )
    ]
    writes = threading.Thread(target=grant_lines)
    writes.start()
    loops.append(
        ledger.handler.handle(
            "eth_sendRawTransaction", [_loop(ledger, heavy, DEFAULT_MAX_TRANSACTION_GAS)]
        )
    )
    writes.join(timeout=3 * RECEIPT_TIMEOUT)
    assert not writes.is_alive()
    assert [status for status, _ in results] == [201, 201, 201], results
    assert all(seconds < RECEIPT_TIMEOUT for _, seconds in results)
    for tx_hash in loops:  # the loops were mined, and ended when their gas did
        receipt = ledger.wait_for_transaction_receipt(bytes.fromhex(tx_hash[2:]), 60)
        assert (receipt["status"], receipt["gasUsed"]) == (0, DEFAULT_MAX_TRANSACTION_GAS)
