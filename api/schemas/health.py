"""``/healthz``: the ledger's head and the node's child processes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import UtcDateTime


class ProcessPublic(BaseModel):
    """One child process of the node."""

    name: str = Field(description="ledger or read_replica")
    state: Literal["running", "restarting"]
    pid: int | None = Field(description="its process id while it runs")
    restarts: int = Field(description="times the node started it again since the node started")
    last_exit_code: int | None = Field(
        description="how it ended last (negative: the signal that ended it)"
    )
    down_since: UtcDateTime | None = Field(description="when it ended, while it is down")


class ConsortiumHealth(BaseModel):
    """A consortium node's part in the cluster (absent on a single node)."""

    role: Literal["minter", "verifier", "learner", "halted"]
    halted: str | None = Field(description="why the node stopped serving, if it halted")
    minter: str | None = Field(description="the minter's JSON-RPC URL, as last seen")
    head: int = Field(description="this node's head block")


class HealthPublic(BaseModel):
    status: Literal["ok"]
    chain_id: int
    head_block: int
    head_time: UtcDateTime = Field(description="the head block's timestamp")
    processes: list[ProcessPublic] = Field(
        default=[], description="the node's child processes, as its supervisor sees them"
    )
    dev_mode: bool = Field(
        default=False,
        description="started with --dev: the faucet key is public and exempt from "
        "permissioning, evm_snapshot/evm_revert are open on the JSON-RPC",
    )
    consortium: ConsortiumHealth | None = Field(
        default=None, description="consortium mode: this node's role and the minter"
    )
