"""``scf-node init``: a new consortium in a new home, without starting it.

The home's governor key, the consortium CA with the node's and the operator's
certificates, the genesis block and the contracts: the operator organization becomes
the first governor and the first (auditor) member, and the node itself goes on the
NodeRegistry allow-list. ``init`` never overwrites a home. With ``--ledger-url`` the
home's ledger is an external JSON-RPC network (Besu or GoQuorum; anvil in tests, see
``nodes.runtime.external``), the contracts are deployed there and the home gets the
network descriptor other institutions join with (``nodes.consortium.external_network``).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chain.errors import ScfError
from nodes.commands.common import HomeOption, console
from nodes.commands.common import passphrase as read_passphrase
from nodes.governor import load_signer
from nodes.home import OPERATOR_CREDIT_CODE, RPC_LEDGER, NodeHome, default_home

if TYPE_CHECKING:
    from chain.accounts import Signer
    from chain.deploy import MemberSpec

DEFAULT_RPC_URL = "http://127.0.0.1:8545"  # where init's node answers unless start moves it


def initialize(
    home: NodeHome, dev: bool, chain_id: int, passphrase: str, rpc_url: str = DEFAULT_RPC_URL
) -> None:
    """Create the consortium in ``home``, its keys encrypted with ``passphrase``; its ledger
    node, reached at ``rpc_url``, goes on the NodeRegistry allow-list."""
    from chain.accounts import Signer
    from chain.backends.embedded import EmbeddedLedger
    from chain.deploy import NodeSpec, deploy_consortium
    from nodes.pki.home import create_home_pki

    console.print(f"Initializing a new consortium in {home.path} ...")
    governor, node_key = Signer.create(), Signer.create()
    home.path.mkdir(parents=True, exist_ok=True)
    home.write_keystore(governor, passphrase)
    home.write_keystore(node_key, passphrase, home.node_keystore)
    home.write_settings({"chain_id": chain_id, "dev": dev})
    ledger = EmbeddedLedger(home.chain_dir, chain_id=chain_id, dev=dev)
    try:
        # The CA and the operator's certificate first: its fingerprint is admitted on chain.
        operator = create_home_pki(home, passphrase, chain_id, _operator_spec(governor))
        with console.status("Deploying the consortium contracts..."):
            node = NodeSpec(node_key.public_key, rpc_url)
            consortium = deploy_consortium(ledger, governor, operator, node=node)
        consortium.save(home.deployment)
    finally:
        ledger.close()
    console.print(f"Governor {governor.address}, keystore {home.keystore}")
    console.print(f"Consortium CA, node and operator certificates in {home.pki_dir}")


def _operator_spec(governor: Signer) -> MemberSpec:
    from chain.deploy import MemberSpec
    from chain.roles import Role

    return MemberSpec(
        name="SCF Consortium Operator",
        credit_code=OPERATOR_CREDIT_CODE,
        roles=[Role.AUDITOR],
        account=governor.address,
    )


def _initialize_external(
    home: NodeHome,
    url: str,
    dev: bool,
    chain_id: int | None,
    keystore: Path | None,
    hosts: list[str] | None = None,
) -> None:
    """A home over the external network at ``url``: the network is checked before anything
    is written, and a failed deployment leaves no half-made home behind. The node's
    consortium certificate names ``hosts`` (its document endpoint's; default: loopback)."""
    from chain.accounts import Signer
    from chain.deploy import deploy_consortium
    from nodes.consortium.certificates import create_consortium_ca, issue_own_certificate
    from nodes.consortium.descriptor import DESCRIPTOR_FILE
    from nodes.consortium.external_network import describe, home_parts, write_node_key
    from nodes.pki.home import consortium_name, create_home_pki
    from nodes.runtime.external import check_chain_id, open_network, prepare_governor

    console.print(f"Initializing a new consortium in {home.path} on the ledger at {url} ...")
    ledger = open_network(url)
    try:
        if chain_id is not None:
            check_chain_id(ledger, chain_id)
        passphrase = read_passphrase(dev, new=keystore is None)
        governor = Signer.create() if keystore is None else load_signer(home, keystore, passphrase)
        note = prepare_governor(ledger, governor, dev)
        if note:
            console.print(f"[yellow]{note}[/yellow]")
        home.path.mkdir(parents=True, exist_ok=True)
        try:
            home.write_keystore(governor, passphrase)
            home.write_settings(
                {"ledger": RPC_LEDGER, "ledger_url": url, "chain_id": ledger.chain_id, "dev": dev}
            )
            operator = create_home_pki(home, passphrase, ledger.chain_id, _operator_spec(governor))
            # the deployment's first transaction lands in a later block than the head now
            first_block = ledger.block_number() + 1
            with console.status(f"Deploying the consortium contracts to {url} ..."):
                consortium = deploy_consortium(ledger, governor, operator)
            consortium.deployment_block = first_block
            consortium.save(home.deployment)
            # the CA of nodes' certificates (the descriptor's), apart from the home's own
            create_consortium_ca(home, passphrase, consortium_name(ledger.chain_id))
            descriptor = describe(home, ledger, consortium, dev)
            node = write_node_key(home, passphrase)
            issue_own_certificate(home, passphrase, "founding-node", node.public_key, hosts)
            node_key = "0x" + node.public_key.hex()
        except BaseException:
            remove_made(home_parts(home))
            raise
    finally:
        ledger.close()
    console.print(f"Governor {governor.address}, keystore {home.keystore}")
    console.print(f"Consortium CA, node and operator certificates in {home.pki_dir}")
    console.print(
        f"Ledger: the JSON-RPC network at {url} (chain {ledger.chain_id}); this home keeps "
        "no ledger of its own"
    )
    console.print(
        f"Network descriptor: {home.path / DESCRIPTOR_FILE} (give it to joining institutions; "
        f"deployed from block {descriptor.deployment_block})"
    )
    endpoint = f"https://{_url_host(hosts[0])}:<port>" if hosts else "<document url>"
    console.print(
        f"Node key {node_key}: to exchange private documents with other institutions' "
        "nodes, name the document endpoint in node.json (documents: listen, url) and add "
        f"the node: scf-node node propose-add --public-key {node_key} --owner 1 "
        f"--endpoint {endpoint} --home {home.path}"
    )
    certified = ", ".join(hosts) if hosts else "loopback only (--node-host names others)"
    console.print(f"Node certificate (the document endpoint's TLS) for: {certified}")


def _url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _found(
    home: NodeHome,
    dev: bool,
    chain_id: int,
    passphrase: str,
    etcd: list[str],
    advertise_rpc_url: str,
    lease_ttl: int,
    peer: PeerEndpoint,
) -> None:
    """``init --consortium``: the network, its log in etcd and its descriptor. The
    consortium CA is the one ``node create-ca`` made in the home, or a new one; the
    node's certificate comes first, since it is the node's identity to an etcd over TLS."""
    from chain.accounts import Signer
    from chain.consortium.seal import NodeKey
    from nodes.consortium.certificates import (
        consortium_ca_dir,
        create_consortium_ca,
        issue_own_certificate,
    )
    from nodes.consortium.descriptor import ConsortiumSettings, uses_tls
    from nodes.consortium.founding import descriptor_path, found_network
    from nodes.consortium.stack import etcd_tls
    from nodes.pki.home import consortium_name

    made = consortium_home_parts(home)
    try:
        if not (consortium_ca_dir(home) / "ca.pem").exists():
            made.append(consortium_ca_dir(home))
            create_consortium_ca(home, passphrase, consortium_name(chain_id))
        # the node key first: the certificate names the node (docs/decisions/0023)
        node_signer = Signer.create()
        node_public_key = NodeKey(node_signer.key).public_key
        issue_own_certificate(home, passphrase, "node-founding", node_public_key, peer.hosts)
        settings = ConsortiumSettings(
            etcd,
            advertise_rpc_url=advertise_rpc_url,
            lease_ttl=lease_ttl,
            etcd_tls=uses_tls(etcd),
            peer_listen=peer.listen,
            advertise_peer_url=peer.url,
        )
        shown = ",".join(etcd)
        console.print(f"Founding consortium chain {chain_id} in {home.path} over etcd {shown} ...")
        with console.status("Minting the genesis deployment through etcd ..."):
            descriptor = found_network(
                home,
                dev=dev,
                chain_id=chain_id,
                passphrase=passphrase,
                settings=settings,
                rpc_url=advertise_rpc_url,
                operator_spec=_operator_spec,
                tls=etcd_tls(home, settings, passphrase),
                peer_url=peer.url,
                node_signer=node_signer,
            )
    except BaseException as exc:
        remove_made(made)
        if not isinstance(exc, ScfError):
            raise
        console.print(f"[red]Founding the network failed:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(f"Network descriptor: {descriptor_path(home)} (give it to joining institutions)")
    console.print(f"Bootstrap node {descriptor.bootstrap_nodes[0]}")


@dataclass(frozen=True)
class PeerEndpoint:
    """Where the node serves history to other institutions' nodes over mutual TLS
    (``listen``, ``url``; None: on its JSON-RPC only, for nodes on one machine) and the
    hosts its consortium certificate names."""

    listen: str | None = None
    url: str | None = None
    hosts: list[str] | None = None


def peer_endpoint(listen: str | None, url: str | None, hosts: list[str] | None) -> PeerEndpoint:
    """``--peer-listen`` and ``--advertise-peer-url`` (default ``https://<listen>``)."""
    if listen is None and url is not None:
        raise ScfError("--advertise-peer-url needs --peer-listen")
    if listen is not None:
        url = url or f"https://{listen}"
        if not url.startswith("https://"):
            raise ScfError(f"--advertise-peer-url is an https URL, not {url!r}")
    return PeerEndpoint(listen, url, hosts or None)


def consortium_home_parts(home: NodeHome) -> list[Path]:
    """What ``init --consortium`` writes, keys first (``remove_made`` then drops ``keys/``)."""
    from nodes.consortium.descriptor import DESCRIPTOR_FILE

    return [
        home.keystore,
        home.node_keystore,
        home.settings,
        home.deployment,
        home.chain_dir,
        home.pki_dir,
        home.path / DESCRIPTOR_FILE,
    ]


def remove_made(paths: list[Path]) -> None:
    """Undo a failed initialization: the files and directories it created."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # keys/ stays if it holds anything else
        paths[0].parent.rmdir()


def init(
    home_dir: HomeOption = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="development mode: fixed passphrase, funded faucet")
    ] = False,
    chain_id: Annotated[
        int | None,
        typer.Option(
            help="chain id of the new consortium (default 8888; with --ledger-url, the "
            "network's, checked if given)"
        ),
    ] = None,
    ledger_url: Annotated[
        str | None,
        typer.Option(
            "--ledger-url",
            help="deploy to this external JSON-RPC network (Besu, GoQuorum, anvil) instead "
            "of an embedded ledger",
        ),
    ] = None,
    governor_keystore: Annotated[
        Path | None,
        typer.Option(
            "--governor-keystore",
            help="with --ledger-url: the encrypted keystore of an existing (funded) account "
            "to govern with, instead of a new key",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    consortium: Annotated[
        bool,
        typer.Option(
            "--consortium",
            help="found a multi-institution network: blocks ordered by etcd (--etcd); "
            "writes the network descriptor others join with",
        ),
    ] = False,
    etcd: Annotated[
        str | None,
        typer.Option(help="with --consortium: etcd client URLs, comma-separated"),
    ] = None,
    advertise_rpc_url: Annotated[
        str,
        typer.Option(
            help="with --consortium: the JSON-RPC URL peers reach this node at (its start "
            "--rpc-host/--rpc-port)"
        ),
    ] = DEFAULT_RPC_URL,
    lease_ttl: Annotated[
        int, typer.Option(min=2, help="with --consortium: seconds a dead minter holds the election")
    ] = 5,
    peer_listen: Annotated[
        str | None,
        typer.Option(
            help="with --consortium: host:port where the node serves history to other "
            "institutions' nodes over mutual TLS (between machines)"
        ),
    ] = None,
    advertise_peer_url: Annotated[
        str | None,
        typer.Option(help="with --peer-listen: the https URL other nodes reach it at"),
    ] = None,
    node_host: Annotated[
        list[str] | None,
        typer.Option(
            help="with --consortium or --ledger-url: a host name or IP the node's "
            "consortium certificate names (its peer endpoint's, or on --ledger-url its "
            "document endpoint's); repeat (default: loopback)"
        ),
    ] = None,
) -> None:
    """Create a new consortium in the home without starting the node; never overwrites."""
    home = NodeHome(home_dir or default_home())
    if consortium and (ledger_url is not None or etcd is None):
        console.print("[red]--consortium needs --etcd and excludes --ledger-url[/red]")
        raise typer.Exit(2)
    if governor_keystore is not None and ledger_url is None:
        console.print(
            "[red]--governor-keystore needs --ledger-url[/red] (the governor of an "
            "embedded ledger is always a new key)"
        )
        raise typer.Exit(2)
    if node_host and not consortium and ledger_url is None:
        console.print(
            "[red]--node-host needs --consortium or --ledger-url[/red] (a single node's "
            "certificate follows start --host)"
        )
        raise typer.Exit(2)
    existing = home.existing_parts()
    if existing:
        state = "is already initialized" if home.is_initialized() else "is not empty"
        names = ", ".join(str(p) for p in existing)
        console.print(
            f"[red]{home.path} {state} (found {names}); refusing to overwrite it.[/red] "
            "Choose another --home, or remove it to start a new consortium."
        )
        raise typer.Exit(1)
    if consortium:
        assert etcd is not None
        from nodes.consortium.descriptor import parse_endpoints

        try:  # refused before anything is asked or written
            endpoints = parse_endpoints(etcd)
            peer = peer_endpoint(peer_listen, advertise_peer_url, node_host)
        except ScfError as exc:
            console.print(f"[red]Founding the network failed:[/red] {exc.message}")
            raise typer.Exit(1) from None
        passphrase = read_passphrase(dev, new=True)
        chosen = 8_888 if chain_id is None else chain_id
        _found(home, dev, chosen, passphrase, endpoints, advertise_rpc_url, lease_ttl, peer)
    elif ledger_url is None:
        passphrase = read_passphrase(dev, new=True)
        initialize(home, dev, 8_888 if chain_id is None else chain_id, passphrase)
    else:
        try:
            hosts = node_host or None
            _initialize_external(home, ledger_url, dev, chain_id, governor_keystore, hosts)
        except ScfError as exc:
            console.print(f"[red]Initialization failed:[/red] {exc.message}")
            raise typer.Exit(1) from None
    console.print(
        f"Initialized {home.path}. Start the node with: scf-node start --home {home.path}"
    )
