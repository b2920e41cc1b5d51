"""The consortium tests' cluster and helpers, on the product's launcher
(``nodes.consortium.local_cluster``): three validator institutions named as in the demo's
story (core founds the network; bank and suppliers join by descriptor, certificate
request and committee vote), each with its etcd member, and a regulator's learner; etcd
keeps a small window of blocks, and every node serves its endpoint for private documents
from other institutions (ADR 22).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from web3 import Web3

from nodes.consortium.local_cluster import (
    LocalConsortium,
    LocalNode,
    NodeOptions,
    wait_until_indexed,
)
from nodes.consortium.local_process import child_env, wait_until

VALIDATORS = ("core", "bank", "suppliers")  # the demo's institutions, in its roles
LEARNER = "regulator"
RETAIN_BLOCKS = 12  # etcd's window in the test network: small, so nodes outrun it
WAIT = 90.0


def found(directory: Path) -> LocalConsortium:
    return LocalConsortium.found(
        directory,
        VALIDATORS,
        learners=(LEARNER,),
        options=NodeOptions(retain_blocks=RETAIN_BLOCKS, documents=True),
    )


def learner(cluster: LocalConsortium) -> LocalNode:
    return next(node for node in cluster.nodes if node.name == LEARNER)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    return wait_until(condition, what, timeout)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "nodes", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=600,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"scf-node {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


@dataclass
class Member:
    id: int
    home: LocalNode
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = self.auth | ({"Idempotency-Key": key} if key else {})
        return httpx.post(f"{self.home.api_url}{path}", json=body, headers=headers, timeout=120)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.home.api_url}{path}", headers=self.auth, timeout=30)


_credit_serial = iter(range(10**6))


def credit_code() -> str:
    from chain.credit_code import make_credit_code

    return make_credit_code(f"9111{secrets.randbelow(10**4):04d}{next(_credit_serial):09d}")


def admit(cluster: LocalConsortium, at: LocalNode, role: str) -> Member:
    """A member whose key ``at`` holds, admitted by the founder's governor."""
    member_id = cluster.admit(at, f"{role} at {at.name}", credit_code(), [role])
    return member(cluster, member_id, at)


def member(cluster: LocalConsortium, member_id: int, at: LocalNode) -> Member:
    """An API key for ``member_id`` at ``at`` (a member may read through any node), once
    ``at``'s read model holds every block (the member's admission among them)."""
    key = cluster.api_key(member_id, at)
    wait_until_indexed(at, cluster)
    return Member(member_id, at, key)


def faucet_transfer(cluster: LocalConsortium, through: LocalNode) -> None:
    """A development faucet transfer sent through ``through``, waited for."""
    from eth_account import Account

    from chain.backends.embedded import DEV_FAUCET_KEY

    faucet = Account.from_key(DEV_FAUCET_KEY)
    nonce = int(through.rpc("eth_getTransactionCount", faucet.address, "pending"), 16)
    transfer = faucet.sign_transaction(
        {
            "to": Web3.to_checksum_address("0x" + "cd" * 20),
            "value": 1,
            "gas": 21_000,
            "nonce": nonce,
            "chainId": cluster.chain_id,
            "maxFeePerGas": int(through.rpc("eth_gasPrice"), 16),
            "maxPriorityFeePerGas": 0,
        }
    )
    tx_hash = through.rpc("eth_sendRawTransaction", Web3.to_hex(transfer.raw_transaction))
    wait_for(lambda: through.rpc("eth_getTransactionReceipt", tx_hash), "the faucet transfer")


def same_chain(cluster: LocalConsortium) -> tuple[int, set[tuple[str, str]]]:
    """The height every node has reached (every node runs), and each node's (hash,
    state root) there."""
    stopped = [node.name for node in cluster.nodes if not node.running]
    assert not stopped, f"nodes not running: {stopped}"
    return cluster.same_head(WAIT)


def invoice(buyer_id: int, document_hash: str, number: int, amount: str) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {
        "invoice_code": "5100231130",
        "invoice_number": f"{number:08d}",
        "buyer_id": buyer_id,
        "amount": amount,
        "issue_date": (today - timedelta(days=1)).isoformat(),
        "due_date": (today + timedelta(days=90)).isoformat(),
        "document_hash": document_hash,
    }


def network_descriptor(cluster: LocalConsortium) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(cluster.descriptor.read_text("utf-8"))
    return loaded
