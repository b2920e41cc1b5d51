"""Scale: path (a) and the restart time with few vs many certificates on the ledger.

Certificates come into being by split transfers (each one creates a child certificate),
so the ledger is grown to each size with the workload's own transfers: pre-signed by a
pool of worker processes (signing is the client's work, and a second core does it while
this one applies blocks) and applied in big blocks straight into the node. Then the
store's restart time is measured, and path (a) runs on it unchanged.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from scripts.bench.engine import CHAIN_ID, RECEIPT_TIMEOUT, open_seconds_in_turns, run_engine
from scripts.bench.results import (
    BenchmarkFailed,
    BenchOptions,
    PathResult,
    ScaleResult,
    median_run,
)
from scripts.bench.workload import TRANSFER_GAS, Workload

Progress = Callable[[str], None]

BUILD_BLOCK_TRANSACTIONS = 2_000  # bigger blocks while growing: fewer commits
SIGN_CHUNK = 1_000  # transfers of one sender signed by one worker task
SIGNING_WORKERS = 2
IN_PROCESS_BELOW = 2_000  # fewer transfers than this: sign here, a pool costs more to start
CHUNKS_AHEAD = 4  # chunks queued in the node ahead of the one being sealed (bounds memory)

# (private key, contract address, calldata, first nonce, count)
SignJob = tuple[bytes, str, bytes, int, int]


def sign_chunk(job: SignJob) -> list[bytes]:
    """Raw split transfers of one sender with consecutive nonces (runs in a worker)."""
    key, to, data, first_nonce, count = job
    signer = Signer.from_key(key)
    return [
        signer.sign_transaction(
            {
                "to": to,
                "data": data,
                "value": 0,
                "gas": TRANSFER_GAS,
                "nonce": nonce,
                "chainId": CHAIN_ID,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
            }
        )[0]
        for nonce in range(first_nonce, first_nonce + count)
    ]


def _jobs(ledger: EmbeddedLedger, workload: Workload, transfers: int) -> list[SignJob]:
    """Chunks of every holder's share, interleaved over the holders (nonces in order)."""
    per_holder: list[list[SignJob]] = []
    for holder, share in zip(workload.holders, workload.shares(transfers), strict=True):
        nonce = ledger.node.nonce_of(bytes.fromhex(holder.signer.address[2:]), pending=False)
        key, to, data = holder.signer.key, workload.certificates.address, workload.calldata(holder)
        per_holder.append(
            [
                (key, to, data, nonce + start, min(SIGN_CHUNK, share - start))
                for start in range(0, share, SIGN_CHUNK)
            ]
        )
    return [job for group in itertools.zip_longest(*per_holder) for job in group if job]


def _signed(jobs: list[SignJob]) -> Iterator[list[bytes]]:
    if sum(job[4] for job in jobs) < IN_PROCESS_BELOW:
        yield from map(sign_chunk, jobs)
        return
    # spawn, not fork: this process runs the node's block producer thread
    with ProcessPoolExecutor(SIGNING_WORKERS, mp_context=get_context("spawn")) as pool:
        yield from pool.map(sign_chunk, jobs)


def grow(store: Path, workload: Workload, certificates: int, progress: Progress) -> int:
    """Split-transfer until the ledger in ``store`` holds ``certificates``; return the head."""
    ledger = EmbeddedLedger(
        store, chain_id=CHAIN_ID, block_max_transactions=BUILD_BLOCK_TRANSACTIONS
    )
    try:
        contract = workload.on(ledger).certificates
        have = int(contract.call("certificateCount"))
        missing = certificates - have
        if missing > 0:
            jobs = _jobs(ledger, workload, missing)
            sealing: deque[bytes] = deque()  # the last transaction of each queued chunk
            done = 0
            for raws in _signed(jobs):
                for raw in raws:
                    last = ledger.node.submit(raw)
                sealing.append(last)
                done += len(raws)
                if len(sealing) > CHUNKS_AHEAD:
                    _wait_sealed(ledger, sealing.popleft())
                progress(f"scale: {have + done:,} of {certificates:,} certificates queued")
            while sealing:
                _wait_sealed(ledger, sealing.popleft())
        have = int(contract.call("certificateCount"))
        if have < certificates:
            raise BenchmarkFailed(f"scale: {have:,} certificates, expected {certificates:,}")
        return ledger.block_number()
    finally:
        ledger.close()


def _wait_sealed(ledger: EmbeddedLedger, tx_hash: bytes) -> None:
    if not ledger.node.wait_for_block_after(tx_hash, RECEIPT_TIMEOUT):
        raise BenchmarkFailed("scale: the node did not seal the growing transfers in time")


def measure_scale(
    store: Path, workload: Workload, options: BenchOptions, progress: Progress
) -> list[ScaleResult]:
    """Grow ``store`` to each size in turn, keeping a copy; time the restart of the sizes,
    opened in turn; then run path (a) on a fresh copy of each size, size after size,
    ``options.scale_rounds`` times.

    The machine's speed drifts within the hour, and growing to the largest
    size takes minutes: one run of each, minutes apart, compared the machine's speed as
    much as the ledger's. Runs back to back, in rounds, compare the sizes; each size's
    figure is its median run. Opens, which are quick, are compared the same way."""
    grown: list[tuple[int, int, Path]] = []  # size, head, its copy
    sizes = sorted(options.scale_certificates)
    for size in sizes:
        head = grow(store, workload, size, progress)
        kept = store
        if size != sizes[-1]:  # nothing grows the largest further: it is its own copy
            kept = store.with_name(f"{store.name}-{size}")
            shutil.copytree(store, kept)
        grown.append((size, head, kept))
    os.sync()  # an open is quick: not beside the growth's writes still in flight
    restarts = open_seconds_in_turns([(kept, head) for _, head, kept in grown], options)
    runs: dict[int, list[PathResult]] = {size: [] for size in sizes}
    for round_ in range(1, options.scale_rounds + 1):
        for size, _, kept in grown:
            progress(
                f"scale: (a) with {size:,} certificates, {options.transfers:,} transfers "
                f"(round {round_} of {options.scale_rounds})"
            )
            target = store.with_name(f"{store.name}-run")
            shutil.copytree(kept, target)
            # The copy (570 MB at 100k) would otherwise be written back to the disk
            # during the run, beside the blocks' own synced commits.
            os.sync()
            try:
                label = f"(a), {size:,} certificates"
                runs[size].append(run_engine(target, workload, options, f"a@{size}", label))
            finally:
                shutil.rmtree(target)
    return [
        ScaleResult(size, head, median_run(runs[size]), restart)
        for (size, head, _), restart in zip(grown, restarts, strict=True)
    ]
