"""Re-executing the stored ledger from genesis finds nothing on an honest chain and names the
block of a record changed in the store afterwards."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest

from chain.backends.embedded import EmbeddedLedger
from chain.deploy import MemberSpec, deploy_consortium
from chain.embedded.node import EmbeddedNode, NodeConfig, store_dir
from chain.embedded.verify import StoreUnreadable, verify_ledger
from chain.roles import Role
from tests.helpers import admit_member, new_credit_code, new_signer


@pytest.fixture(scope="module")
def stored_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped ledger with the consortium deployed, a member admitted and time travel."""
    path = tmp_path_factory.mktemp("verify")
    ledger = EmbeddedLedger(path, dev=True)
    try:
        governor = new_signer(ledger)
        spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
        consortium = deploy_consortium(ledger, governor, spec)
        admit_member(consortium, governor, [Role.SUPPLIER])
        ledger.increase_time(3_600)
    finally:
        ledger.close()
    return path


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    (target / "data.mdb").write_bytes((store_dir(source) / "data.mdb").read_bytes())
    return target


def _tamper(store: Path, key: bytes) -> None:
    env = lmdb.open(str(store), max_dbs=0)
    try:
        with env.begin(write=True) as txn:
            stored = txn.get(key)
            assert stored is not None, f"no record 0x{key.hex()} to tamper with"
            value = bytearray(stored)
            value[-1] ^= 0x01
            txn.put(key, bytes(value))
    finally:
        env.close()


def _header_of(path: Path, number: int) -> dict[str, bytes]:
    ledger = EmbeddedLedger(path, dev=True)
    try:
        block = ledger.get_block(number)
        assert block["transactions"], f"block {number} should carry transactions"
        return {
            "stateRoot": bytes(block["stateRoot"]),
            "transactionsRoot": bytes(block["transactionsRoot"]),
        }
    finally:
        ledger.close()


def test_an_honest_chain_verifies(stored_chain: Path) -> None:
    seen: list[int] = []
    result = verify_ledger(store_dir(stored_chain), 8_888, lambda n, head: seen.append(n))
    assert result.ok, str(result.mismatch)
    assert result.head >= 13
    assert result.transactions >= 13
    assert seen == list(range(1, result.head + 1))


def test_a_changed_state_node_is_found_at_the_block_that_wrote_it(
    stored_chain: Path, tmp_path: Path
) -> None:
    state_root = _header_of(stored_chain, 5)["stateRoot"]
    store = _copy(stored_chain, tmp_path / "tampered")
    _tamper(store, state_root)
    result = verify_ledger(store, 8_888)
    assert result.mismatch is not None
    assert result.mismatch.block_number == 5
    assert result.mismatch.field == f"record 0x{state_root.hex()}"
    assert str(result.mismatch).startswith("block 5: record 0x")
    assert result.mismatch.expected != result.mismatch.actual


def test_a_changed_transaction_is_found_in_its_block(stored_chain: Path, tmp_path: Path) -> None:
    tx_root = _header_of(stored_chain, 7)["transactionsRoot"]
    store = _copy(stored_chain, tmp_path / "tampered")
    _tamper(store, tx_root)
    result = verify_ledger(store, 8_888)
    assert result.mismatch is not None
    assert result.mismatch.block_number == 7


def test_no_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreUnreadable, match="no ledger store"):
        verify_ledger(tmp_path, 8_888)


def test_a_genesis_funding_several_accounts_verifies(tmp_path: Path) -> None:
    # rebuilt leaf by leaf, its trie passes through nodes the stored genesis never had
    alloc = {bytes([i]) * 20: 10**18 + i for i in range(1, 6)}
    node = EmbeddedNode(NodeConfig(tmp_path, chain_id=8_888, genesis_alloc=alloc))
    node.mine()
    node.stop()
    result = verify_ledger(store_dir(tmp_path), 8_888)
    assert result.mismatch is None
    assert result.head == 1
