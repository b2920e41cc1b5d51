"""The ledger's replacements of py-evm code give the blocks of Ethereum's own consensus tests.

The warm account database with its one-pass trie writes (``chain.embedded.warm``,
``chain.embedded.trie_batch``) and the shared jump analysis (``chain.embedded.vm``) are
fork-agnostic: here they run on py-evm's Cancun, the fork these fixtures are filled for
(the ledger runs them on a fee-free Prague, which no fixture describes). Each fixture's
blocks are imported with full validation (state root, receipts, gas, bloom) and the end
state is compared account by account. The fixtures come from the ethereum/tests
repository, which py-evm's own test suite runs (see ``fixtures/ethereum_tests``).
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth.abc import VirtualMachineAPI
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB
from eth.tools.fixtures import (  # type: ignore[attr-defined]  # (py-evm has no __all__)
    normalize_blockchain_fixtures,
)
from eth.tools.fixtures.helpers import (
    apply_fixture_block_to_chain,
    genesis_params_from_fixture,
    verify_state,
)
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState
from eth_utils.exceptions import ValidationError

from chain.embedded import trie_batch
from chain.embedded.vm import SharedJumpAnalysis
from chain.embedded.warm import WarmState

FIXTURES = Path(__file__).parent / "fixtures" / "ethereum_tests"
# py-evm warns on every SELFDESTRUCT it runs; the fixtures run it on purpose
pytestmark = pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode:DeprecationWarning")


@cache
def _bundle(path: Path) -> dict[str, dict[str, Any]]:
    """A bundle: the fixture files of one upstream folder, by their upstream path."""
    with gzip.open(path, "rt") as raw:
        loaded: dict[str, dict[str, Any]] = json.load(raw)
    return loaded


@cache
def _cases() -> list[tuple[Path, str, str]]:
    """(bundle, upstream file, test name) of every fixture."""
    return [
        (bundle, upstream, name)
        for bundle in sorted(FIXTURES.glob("*.json.gz"))
        for upstream, tests in _bundle(bundle).items()
        for name in tests
    ]


def _fixture(bundle: Path, upstream: str, name: str) -> dict[str, Any]:
    fixture: dict[str, Any] = _bundle(bundle)[upstream][name]
    return fixture


def overridden_cancun(warm: WarmState) -> type[VirtualMachineAPI]:
    """py-evm's Cancun with the ledger's account database and computation speed-ups."""
    computation = type("Computation", (SharedJumpAnalysis, CancunComputation), {})
    state = type(
        "State",
        (CancunState,),
        {"computation_class": computation, "account_db_class": staticmethod(warm.open)},
    )
    return type("OverriddenCancunVM", (CancunVM,), {"_state_class": state})


def run_fixture(fixture: dict[str, Any], vm_class: type[VirtualMachineAPI]) -> None:
    """Import the fixture's valid blocks, validated, onto its genesis; check the end state."""
    fixture = normalize_blockchain_fixtures(fixture)
    assert fixture["network"] == "Cancun", fixture["network"]
    chain_class = Chain.configure("FixtureChain", vm_configuration=((0, vm_class),), chain_id=1)
    chain = chain_class.from_genesis(
        AtomicDB(), genesis_params_from_fixture(fixture), fixture["pre"]
    )
    for block in fixture["blocks"]:
        if "expectException" in block:
            continue  # invalid blocks test block validation, which the ledger does not replace
        provided, imported, _ = apply_fixture_block_to_chain(block, chain, perform_validation=True)
        assert imported.header == provided.header
    assert chain.get_canonical_head().hash == fixture["lastblockhash"]
    verify_state(fixture["postState"], chain.get_vm().state)


@pytest.mark.parametrize(
    ("bundle", "upstream", "name"),
    _cases(),
    ids=[f"{upstream.removeprefix('BlockchainTests/')}:{name}" for _, upstream, name in _cases()],
)
def test_the_overridden_vm_passes_the_consensus_fixture(
    bundle: Path, upstream: str, name: str
) -> None:
    run_fixture(_fixture(bundle, upstream, name), overridden_cancun(WarmState()))


def test_the_fixtures_cover_what_the_overrides_replace() -> None:
    cases = _cases()
    assert len(cases) >= 1_000
    folders = {upstream.split("/")[-2] for _, upstream, _ in cases}
    assert {"stSStoreTest", "vmIOandFlowOperations", "bcStateTests", "stRandom"} <= folders
    multi_block = [case for case in cases if len(_fixture(*case)["blocks"]) > 1]
    assert multi_block, "some fixtures must hand the warm caches on from block to block"


def test_a_wrong_trie_write_fails_the_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    # the fixtures are only worth their silence if a broken override does not pass them
    apply_updates = trie_batch.apply_updates

    def drops_a_deletion(db: Any, root: Any, updates: Any, decoded: Any = None) -> Any:
        kept = dict(updates)
        deleted = [key for key, value in kept.items() if value == b""]
        if deleted:
            del kept[deleted[0]]
        return apply_updates(db, root, kept, decoded)

    monkeypatch.setattr(trie_batch, "apply_updates", drops_a_deletion)
    failed = 0
    for bundle, upstream, name in _cases():
        if "/stSStoreTest/" not in upstream:
            continue
        try:
            run_fixture(_fixture(bundle, upstream, name), overridden_cancun(WarmState()))
        except (ValidationError, AssertionError):
            failed += 1
    assert failed > 0
