"""Consistent online backup of a node home, and restore into an empty home.

A backup is taken while the node runs, in an order that keeps the parts
consistent with each other:

1. the read model (SQLite online backup API). Taken first, so it is at or behind
   the ledger copied next: on start the indexer catches it up from its cursor.
   A PostgreSQL read model is not copied: dump it with ``pg_dump`` alongside.
2. the LMDB ledger store, copied from one read transaction (``Environment.copy``
   with ``txn``): a snapshot of whole committed blocks even while the node writes.
3. the transaction store (SQLite online backup API). Every transaction is stored
   before it is sent, so a copy taken after the ledger holds every transaction the
   copied ledger does; the ones it holds beyond are re-sent when the node starts.
4. everything else in the home as files: keystores, settings, deployment, the
   operator's API key file, ``pki/`` if present.

A home over an external JSON-RPC network (``"ledger": "rpc"``) has no ledger to
copy: the network keeps it. Its backup holds the read model, the transaction
store, keys and settings, and records the network's head at backup time.

``manifest.json`` is written last: the SHA-256 and size of every file, the head
block and its time. A directory without one is not a backup.

Restore checks every hash before it writes anything, copies into a new directory
next to the target and moves it into place, so a failed restore leaves nothing
half-written; it never writes into a home that has anything in it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lmdb
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from sqlalchemy.engine import make_url

from chain.embedded.node import store_dir
from chain.embedded.store import TransactionView
from chain.errors import ScfError
from nodes.connect import RUNTIME_FILES
from nodes.home import RPC_LEDGER, NodeHome
from nodes.runtime.external import open_network

MANIFEST = "manifest.json"
FORMAT = 1
READ_MODEL = "scf.db"
TX_STORE = "transactions.db"
# SQLite's side files belong to a live connection; the online backup copies their content.
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

Progress = Callable[[str], None]


class BackupError(ScfError):
    code = "backup_error"
    http_status = 409


@dataclass(frozen=True)
class Manifest:
    created_at: str
    chain_id: int
    head_block: int
    head_hash: str
    head_time: str
    read_model: str  # "included", or why not
    files: dict[str, dict[str, Any]]  # relative path -> {"sha256", "size"}
    ledger: str = "included"  # or why not (an external network keeps its own ledger)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **self.__dict__}

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        try:
            payload = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise BackupError(f"{directory} is not a backup: no {MANIFEST}") from None
        except ValueError as exc:
            raise BackupError(f"{path} is not valid JSON: {exc}") from None
        if payload.get("format") != FORMAT:
            raise BackupError(f"{path} has backup format {payload.get('format')!r}, not {FORMAT}")
        payload.pop("format")
        return cls(**payload)


def backup_home(
    home: NodeHome, target: Path, database_url: str, progress: Progress = lambda _: None
) -> Manifest:
    """Copy ``home`` into the new directory ``target``, consistently, while its node runs."""
    if not home.deployment.exists():
        raise BackupError(f"{home.path} is not an initialized node home")
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty; back up into a new directory")
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o700)  # it holds keystores and the operator's API key

    progress("read model")
    read_model = _backup_read_model(home, target, database_url)
    progress("ledger")
    if home.ledger_kind() == RPC_LEDGER:
        url = str(home.ledger_url())
        head = _network_head(url)
        ledger = f"not included: the external JSON-RPC network at {url} keeps the ledger"
    else:
        head = _copy_ledger(store_dir(home.chain_dir), store_dir(target / home.chain_dir.name))
        ledger = "included"
    progress("transaction store")
    if (home.path / TX_STORE).exists():
        _sqlite_backup(home.path / TX_STORE, target / TX_STORE)
    progress("keys, settings, deployment")
    _copy_files(home.path, target)
    progress("manifest")
    manifest = Manifest(
        created_at=_now(),
        chain_id=int(home.read_settings()["chain_id"]),
        head_block=head[0],
        head_hash=head[1],
        head_time=datetime.fromtimestamp(head[2], UTC).isoformat(),
        read_model=read_model,
        files=_hashes(target),
        ledger=ledger,
    )
    _write_atomically(target / MANIFEST, json.dumps(manifest.to_json(), indent=2) + "\n")
    return manifest


def restore_home(source: Path, home: NodeHome, progress: Progress = lambda _: None) -> Manifest:
    """Restore the backup in ``source`` into ``home``, which must be empty or absent."""
    if home.path.exists() and any(home.path.iterdir()):
        raise BackupError(f"{home.path} is not empty; restore only into a new or empty home")
    progress("checking the manifest")
    manifest = Manifest.load(source)
    verify_backup(source, manifest)
    staging = home.path.with_name(f".{home.path.name}.restoring")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        progress("copying")
        for relative in manifest.files:
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, destination)
        for keystore in (staging / "keys").rglob("*.json"):
            keystore.chmod(0o600)
        if home.path.exists():
            home.path.rmdir()  # empty, checked above
        staging.replace(home.path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def verify_backup(source: Path, manifest: Manifest) -> None:
    """Every file the manifest lists is there with its hash, and nothing else is."""
    present = {
        str(p.relative_to(source)) for p in source.rglob("*") if p.is_file() and p.name != MANIFEST
    }
    missing = sorted(set(manifest.files) - present)
    extra = sorted(present - set(manifest.files))
    if missing or extra:
        raise BackupError(
            f"{source} does not match its manifest: missing {missing or 'nothing'}, "
            f"not listed {extra or 'nothing'}",
            details={"missing": missing, "extra": extra},
        )
    for relative, expected in manifest.files.items():
        actual = _sha256(source / relative)
        if actual != expected["sha256"]:
            raise BackupError(
                f"{relative} in {source} does not match the manifest "
                f"(SHA-256 {actual}, manifest {expected['sha256']})",
                details={"file": relative},
            )


# ---- the parts ----------------------------------------------------------------------------


def _backup_read_model(home: NodeHome, target: Path, database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return f"not included: {url.get_backend_name()} database, back it up with pg_dump"
    path = Path(url.database or "")
    if not path.exists():
        return "not included: the node has not created its read model yet"
    _sqlite_backup(path, target / READ_MODEL)
    return "included"


def _sqlite_backup(source: Path, destination: Path) -> None:
    """SQLite's online backup: a consistent copy while other connections write."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(destination)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


def _copy_ledger(source: Path, destination: Path) -> tuple[int, str, int]:
    """Copy the LMDB store from one read transaction; return its head (number, hash, time)."""
    if not (source / "data.mdb").exists():
        raise BackupError(f"no ledger store at {source}")
    destination.mkdir(parents=True)
    env = lmdb.open(str(source), readonly=True, max_dbs=0)
    try:
        with env.begin(buffers=False) as txn:
            head = ChainDB(AtomicDB(TransactionView(txn))).get_canonical_head()
            env.copy(str(destination), compact=True, txn=txn)
    finally:
        env.close()
    return head.block_number, "0x" + head.hash.hex(), head.timestamp


def _network_head(url: str) -> tuple[int, str, int]:
    """The external network's head (number, hash, time) as the backup is taken: the read
    model copied before it is at or behind it."""
    ledger = open_network(url)
    try:
        block = ledger.get_block("latest")
    finally:
        ledger.close()
    return int(block["number"]), "0x" + bytes(block["hash"]).hex(), int(block["timestamp"])


def _copy_files(home: Path, target: Path) -> None:
    """Every file of the home not copied by a database backup above."""
    skip_dirs = {home / "chain"}
    for path in sorted(home.rglob("*")):
        if not path.is_file() or any(d in path.parents for d in skip_dirs):
            continue
        relative = path.relative_to(home)
        name = path.name
        if name in RUNTIME_FILES or name in (READ_MODEL, TX_STORE):
            continue
        if name.endswith(_SQLITE_SIDE_FILES) or name.endswith(".tmp"):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def _hashes(directory: Path) -> dict[str, dict[str, Any]]:
    return {
        str(p.relative_to(directory)): {"sha256": _sha256(p), "size": p.stat().st_size}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


def _now() -> str:
    return datetime.now(UTC).isoformat()
