"""The block producer's short cuts change no result: every block the node seals is the block
stock py-evm's ``MiningChain.mine_all`` makes of the same transactions on the same parent at
the same timestamp, byte for byte, and the stored ledger re-executes clean.

The scenario runs the node through what could trip the one-pass trie writes and the trie
nodes kept from block to block: storage read and written block after block, calls between
contracts, reverted calls, a transaction dropped half-way through a block, a contract
created and destroyed in one transaction, a rewind (``evm_revert``) followed by other
blocks, a block whose commit fails, and many contracts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import rlp  # type: ignore[import-untyped]
from eth.abc import BlockAPI
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Address
from eth_utils.crypto import keccak

from chain.embedded.node import EmbeddedNode, NodeConfig, store_dir
from chain.embedded.verify import verify_ledger
from chain.embedded.vm import BASE_FEE, BLOCK_GAS_LIMIT, ScfMiningChain
from chain.embedded.warm import MAX_NODES

CHAIN_ID = 8_888
GENESIS_TIME = 1_750_000_000
EXTRA_CONTRACTS = 70  # many contracts in the blocks (more than caches once kept: 64)
FUNDING = 10**21
CALLERS = 5  # accounts 1 to 5 call the contracts; 0 deploys; 6 runs out of ether

# A contract, hand-assembled: counter at slot 0xff += 1; sstore(cd[0], cd[32]);
# if cd[64]: call(address cd[64]) with no data; if cd[96]: revert.
RUNTIME = bytes.fromhex(
    "60ff54600101"
    "60ff55"  # counter
    "602035600035"
    "55"  # sstore(cd[0], cd[32])
    "604035"
    "8015"
    "602657"  # target, skip the call when zero
    "6000600060006000600085"
    "5af150"  # call(gas, target, 0, 0, 0, 0, 0)
    "5b50"  # skip:
    "606035"
    "602f57"
    "00"  # revert when cd[96]
    "5b"
    "6000"
    "80"
    "fd"  # rev: revert(0, 0)
)
INITCODE = bytes([0x60, len(RUNTIME)]) + bytes.fromhex("80600b6000396000f3") + RUNTIME
# Created and destroyed in one transaction (EIP-6780): its storage is wiped.
SELF_DESTRUCTING = bytes.fromhex("600160075533ff")


def _word(value: int | bytes) -> bytes:
    return value.rjust(32, b"\0") if isinstance(value, bytes) else value.to_bytes(32, "big")


def call_data(key: int, value: int, forward: bytes = b"", revert: bool = False) -> bytes:
    return _word(key) + _word(value) + _word(forward) + _word(int(revert))


@dataclass
class Scenario:
    node: EmbeddedNode
    accounts: list[LocalAccount]
    contracts: list[bytes] = field(default_factory=list)
    dropped: set[bytes] = field(default_factory=set)
    block_failures: int = 0
    _signed: dict[str, int] = field(default_factory=dict)  # since the last block

    def sign(
        self,
        sender: LocalAccount,
        *,
        to: bytes | None,
        data: bytes = b"",
        value: int = 0,
    ) -> bytes:
        """Signed with the sender's next nonce, after those signed since the last block."""
        signed = self._signed.get(sender.address, 0)
        self._signed[sender.address] = signed + 1
        nonce = self.node.nonce_of(bytes.fromhex(sender.address[2:])) + signed
        tx: dict[str, Any] = {
            "nonce": nonce,
            "gas": 300_000,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "chainId": CHAIN_ID,
            "value": value,
            "data": data,
            "type": 2,
        }
        if to is not None:
            tx["to"] = to
        return bytes(sender.sign_transaction(tx).raw_transaction)

    def block(self, raws: list[bytes], dropped: tuple[bytes, ...] = ()) -> None:
        """Submit ``raws`` together, wait until they are sealed, and check that none but
        ``dropped`` was left out (a stale nonce or balance would drop them)."""
        self._signed.clear()
        for raw in raws:
            self.node.submit(raw)
        self.node.settle()
        left_out = {keccak(raw) for raw in raws if self.node.rejection_of(keccak(raw))}
        assert left_out == {keccak(raw) for raw in dropped}
        self.dropped |= left_out

    def fund(self) -> None:
        """Give every other account ``FUNDING`` wei from account 0."""
        self.block(
            [
                self.sign(self.accounts[0], to=bytes.fromhex(a.address[2:]), value=FUNDING)
                for a in self.accounts[1:]
            ]
        )

    def deploy(self, count: int) -> None:
        deployer = self.accounts[0]
        start = self.node.nonce_of(bytes.fromhex(deployer.address[2:]))
        self.block([self.sign(deployer, to=None, data=INITCODE) for _ in range(count)])
        for nonce in range(start, start + count):
            address = keccak(rlp.encode([bytes.fromhex(deployer.address[2:]), nonce]))[12:]
            state = self.node.reader.get_vm(self.node.head).state
            assert state.get_code(Address(address)) == RUNTIME
            self.contracts.append(address)

    def calls(self, count: int, round_: int) -> list[bytes]:
        """``count`` calls to the first three contracts, from accounts 1 to 5 in turn."""
        raws = []
        for i in range(count):
            sender = self.accounts[1 + (round_ + i) % CALLERS]
            target = self.contracts[(round_ + i) % 3]
            forward = self.contracts[(round_ + i + 1) % 3] if i % 2 else b""
            data = call_data(key=1 + (round_ * 7 + i) % 5, value=round_ * 100 + i, forward=forward)
            raws.append(self.sign(sender, to=target, data=data))
        return raws


def _genesis_params() -> dict[str, Any]:
    return {
        "difficulty": 0,
        "gas_limit": BLOCK_GAS_LIMIT,
        "timestamp": GENESIS_TIME,
        "base_fee_per_gas": BASE_FEE,
        "extra_data": b"SCF Chain genesis",
        "nonce": b"\0" * 8,
        "mix_hash": b"\0" * 32,
    }


def _alloc(accounts: list[LocalAccount]) -> dict[bytes, int]:
    # One funded account: ``verify`` rebuilds the genesis state key by key and cannot
    # match the intermediate trie nodes of a several-account genesis.
    return {bytes.fromhex(accounts[0].address[2:]): 10**24}


def _run_scenario(scenario: Scenario) -> None:
    node = scenario.node
    funded, poor = scenario.accounts[0], scenario.accounts[-1]  # not among the callers
    scenario.fund()
    scenario.deploy(3)
    for round_, size in enumerate([1, 1, 2, 1, 4, 1, 2, 8, 1, 1]):
        scenario.block(scenario.calls(size, round_))
    # a reverted call between successful ones
    reverting = scenario.sign(
        funded, to=scenario.contracts[0], data=call_data(3, 9, scenario.contracts[1], revert=True)
    )
    scenario.block([*scenario.calls(1, 20), reverting, *scenario.calls(1, 21)])
    # the second transfer of ``poor`` no longer fits its balance at execution: dropped
    half = FUNDING * 6 // 10
    first = scenario.sign(poor, to=bytes(20), value=half)
    second = scenario.sign(poor, to=bytes(19) + b"\1", value=half)
    scenario.block([first, *scenario.calls(2, 30), second, *scenario.calls(1, 31)], (second,))
    # created and destroyed in one transaction, between calls
    destroyed = scenario.sign(funded, to=None, data=SELF_DESTRUCTING)
    scenario.block([*scenario.calls(1, 40), destroyed, *scenario.calls(2, 41)])
    # a rewind, then other blocks on the older head
    mark = node.head.hash
    for round_ in range(50, 53):
        scenario.block(scenario.calls(2, round_))
    node.rewind(mark)
    for round_ in range(60, 63):
        scenario.block(scenario.calls(1 + round_ % 2, round_))
    _fail_one_commit(scenario)
    for round_ in range(70, 74):
        scenario.block(scenario.calls(1 + round_ % 3, round_))
    # more contracts than the producer keeps, each written to
    scenario.deploy(EXTRA_CONTRACTS)
    deployer = scenario.accounts[0]
    writes = [
        scenario.sign(deployer, to=address, data=call_data(5, i + 1))
        for i, address in enumerate(scenario.contracts[3:])
    ]
    scenario.block(writes)
    node.mine()  # an empty block
    for round_ in range(80, 84):
        scenario.block(scenario.calls(1, round_))


def _fail_one_commit(scenario: Scenario) -> None:
    """The store refuses one block's commit (a full disk): the node drops the block."""
    node = scenario.node
    store = node._store
    real_write = store._write

    def refuse(journal: object) -> None:
        store._write = real_write  # type: ignore[method-assign]
        raise OSError("No space left on device")

    store._write = refuse  # type: ignore[method-assign]
    raws = scenario.calls(2, 65)
    scenario.block(raws, tuple(raws))
    for raw in raws:
        reason = node.rejection_of(keccak(raw))
        assert reason is not None
        assert reason.startswith("block failed"), reason
    scenario.block_failures += 1


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    accounts = [Account.create() for _ in range(2 + CALLERS)]
    config = NodeConfig(
        data_dir=tmp_path_factory.mktemp("producer"),
        chain_id=CHAIN_ID,
        genesis_alloc=_alloc(accounts),
        genesis_timestamp=GENESIS_TIME,
    )
    node = EmbeddedNode(config)
    node.start()
    scenario = Scenario(node, accounts)
    try:
        _run_scenario(scenario)
        yield scenario
    finally:
        node.stop()


def _canonical_blocks(node: EmbeddedNode) -> list[BlockAPI]:
    return [node.sealed_block(n).block for n in range(1, node.head.block_number + 1)]


def test_every_block_is_the_block_stock_py_evm_mines_from_the_same_transactions(
    scenario: Scenario,
) -> None:
    reference: Any = cast(Any, ScfMiningChain).from_genesis(
        AtomicDB(), _genesis_params(), _genesis_state(scenario.accounts)
    )
    assert reference.get_canonical_head() == scenario.node.sealed_block(0).block.header
    blocks = _canonical_blocks(scenario.node)
    assert len(blocks) >= 25
    for block in blocks:
        parent = reference.get_canonical_head()
        reference.header = reference.create_header_from_parent(
            parent, timestamp=block.header.timestamp
        )
        result, receipts, _ = reference.mine_all(block.transactions)
        mined = result.imported_block
        number = block.header.block_number
        assert mined.header.state_root == block.header.state_root, f"block {number}"
        assert mined.header.receipt_root == block.header.receipt_root, f"block {number}"
        assert rlp.encode(mined) == rlp.encode(block), f"block {number}"
        stored = scenario.node.sealed_block(number).receipts
        assert [rlp.encode(r) for r in receipts] == [rlp.encode(r) for r in stored]


def _genesis_state(accounts: list[LocalAccount]) -> dict[bytes, dict[str, Any]]:
    # as ``EmbeddedNode`` builds it from ``genesis_alloc``
    return {
        address: {"balance": balance, "nonce": 0, "code": b"", "storage": {}}
        for address, balance in _alloc(accounts).items()
    }


def test_the_scenario_reached_every_case(scenario: Scenario) -> None:
    node = scenario.node
    transactions = [tx for b in _canonical_blocks(node) for tx in b.transactions]
    hashes = {bytes(tx.hash) for tx in transactions}
    assert scenario.dropped
    assert not scenario.dropped & hashes
    assert scenario.block_failures == 1
    statuses = [
        r.state_root
        for n in range(1, node.head.block_number + 1)
        for r in node.sealed_block(n).receipts
    ]
    assert b"" in statuses  # failed transactions
    assert b"\x01" in statuses  # and successful ones
    assert len(scenario.contracts) == 3 + EXTRA_CONTRACTS


def test_the_trie_nodes_kept_from_block_to_block_stay_bounded(scenario: Scenario) -> None:
    assert 0 < len(scenario.node._warm.nodes) <= MAX_NODES


def test_the_stored_ledger_re_executes_clean(scenario: Scenario, tmp_path: Path) -> None:
    # a copy: LMDB opens a store once per process (the node is idle, every block committed)
    (tmp_path / "data.mdb").write_bytes(
        (store_dir(scenario.node.config.data_dir) / "data.mdb").read_bytes()
    )
    result = verify_ledger(tmp_path, CHAIN_ID)
    assert result.ok, str(result.mismatch)
    assert result.head == scenario.node.head.block_number


def test_after_a_block_that_fails_half_way_the_next_builds_on_the_durable_head(
    tmp_path: Path,
) -> None:
    accounts = [Account.create() for _ in range(2 + CALLERS)]
    node = EmbeddedNode(
        NodeConfig(
            data_dir=tmp_path,
            chain_id=CHAIN_ID,
            genesis_alloc=_alloc(accounts),
            genesis_timestamp=GENESIS_TIME,
        )
    )
    node.start()
    try:
        scenario = Scenario(node, accounts)
        scenario.fund()
        scenario.deploy(3)
        scenario.block(scenario.calls(2, 0))
        head = node.head
        _fail_one_commit(scenario)
        assert node.head == head
        scenario.block(scenario.calls(2, 1))
        assert node.head.block_number == head.block_number + 1
        assert node.head.parent_hash == head.hash
    finally:
        node.stop()
    assert verify_ledger(store_dir(tmp_path), CHAIN_ID).ok
