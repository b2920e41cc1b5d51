"""A node's home directory: ledger data, the governor keystore and the deployment.

Layout: ``chain/`` (LMDB ledger), ``keys/governor.json`` (encrypted keystore),
``keys/node.json`` (the ledger node's key, encrypted; its public key is the node's id in
NodeRegistry),
``deployment.json`` (contract addresses), ``node.json`` (chain id, dev flag), ``pki/``
(the home's CA and certificates, see ``nodes.pki.ca``; in a consortium, the
institution's own, and ``pki/consortium/`` the node's certificate from the consortium
CA, whose key only the founding home holds, in ``consortium-ca/``).

A home whose ledger is an external JSON-RPC network (Besu, GoQuorum; anvil in
tests) has no ``chain/``: its ``node.json`` says ``"ledger": "rpc"`` and names
the network's ``ledger_url``. Homes without a ``ledger`` entry are embedded.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.credit_code import make_credit_code

if TYPE_CHECKING:
    from chain.accounts import Signer

DEV_PASSPHRASE = "scf-dev-passphrase"
# scrypt's work factor for keystores sealed with DEV_PASSPHRASE. The factor slows the
# guessing of a secret passphrase; this one is printed in the source, so eth-account's
# default (2**18, about a second per keystore) would only cost every development start and
# every member's account that second, and protect nothing. Real homes keep the default.
DEV_KDF_ITERATIONS = 2**10


def kdf_iterations_for(passphrase: str) -> int | None:
    """scrypt's work factor for a keystore sealed with ``passphrase`` (None: the default)."""
    return DEV_KDF_ITERATIONS if passphrase == DEV_PASSPHRASE else None


# the operator organization's company, the consortium's first member (``scf-node init``)
OPERATOR_CREDIT_CODE = make_credit_code("91110000000000001")

EMBEDDED_LEDGER = "embedded"
RPC_LEDGER = "rpc"


def default_home() -> Path:
    return Path(os.environ.get("SCF_HOME", ".scf"))


@dataclass(frozen=True)
class NodeHome:
    path: Path

    @property
    def chain_dir(self) -> Path:
        return self.path / "chain"

    @property
    def keystore(self) -> Path:
        return self.path / "keys" / "governor.json"

    @property
    def node_keystore(self) -> Path:
        """The embedded ledger node's secp256k1 key, encrypted like the governor's."""
        return self.path / "keys" / "node.json"

    @property
    def deployment(self) -> Path:
        return self.path / "deployment.json"

    @property
    def settings(self) -> Path:
        return self.path / "node.json"

    @property
    def pki_dir(self) -> Path:
        """The home's CA (a single node's, or in a consortium the institution's own), its
        node and member certificates (``nodes.pki.ca``); ``pki/consortium/``: the node's
        certificate from the consortium CA (``nodes.consortium.certificates``)."""
        return self.path / "pki"

    def keep_private(self) -> None:
        """The home 0700 and nothing in it readable by group or others: a home made before
        the node wrote everything private is tightened when it starts."""
        for path in (self.path, *self.path.rglob("*")):
            if path.is_symlink():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                path.chmod(mode & 0o700)

    def is_initialized(self) -> bool:
        return self.deployment.exists() and self.keystore.exists()

    def existing_parts(self) -> list[Path]:
        """The parts of a home already present (a new home has none)."""
        return [
            p
            for p in (self.keystore, self.deployment, self.settings, self.chain_dir, self.pki_dir)
            if p.exists()
        ]

    def write_keystore(self, signer: Signer, passphrase: str, path: Path | None = None) -> None:
        """Encrypt ``signer``'s key to ``path`` (the governor's keystore by default)."""
        from eth_account import Account  # here: the command line starts without it

        path = path or self.keystore
        path.parent.mkdir(parents=True, exist_ok=True)
        iterations = kdf_iterations_for(passphrase)
        encrypted = Account.encrypt(signer.key, passphrase, iterations=iterations)
        path.write_text(json.dumps(encrypted), "utf-8")
        path.chmod(0o600)

    def read_keystore(self, passphrase: str) -> Signer:
        from eth_account import Account

        from chain.accounts import Signer

        encrypted = json.loads(self.keystore.read_text("utf-8"))
        return Signer.from_key(Account.decrypt(encrypted, passphrase))

    def write_settings(self, settings: dict[str, Any]) -> None:
        self.settings.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", "utf-8")

    def read_settings(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.settings.read_text("utf-8"))
        return loaded

    def is_dev(self) -> bool:
        """Whether this is a development home (``init --dev``): it uses the development
        passphrase, and ``start --dev`` may enable time travel on it."""
        return self.settings.exists() and bool(self.read_settings().get("dev", False))

    def ledger_kind(self) -> str:
        """``embedded`` (the node runs the ledger) or ``rpc`` (an external network)."""
        return str(self.read_settings().get("ledger", EMBEDDED_LEDGER))

    def ledger_url(self) -> str | None:
        """The external network's JSON-RPC URL; None for an embedded ledger."""
        if self.ledger_kind() != RPC_LEDGER:
            return None
        return str(self.read_settings()["ledger_url"])
