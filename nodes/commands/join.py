"""``scf-node join``: a new institution's home, made from the network descriptor.

An etcd consortium's descriptor (``--etcd``): what it makes and how the node syncs,
``nodes.consortium.joining``. The node is a learner until a committee vote puts it on the
NodeRegistry allow-list; the command prints what the founding operator runs for that and
for its certificate. An external network's descriptor (``--ledger-url``): an API node over
that network, ``nodes.consortium.external_network``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chain.errors import ScfError
from nodes.commands.common import HomeOption, JsonOption, console, print_json
from nodes.commands.common import passphrase as read_passphrase
from nodes.commands.init import DEFAULT_RPC_URL
from nodes.home import NodeHome, default_home

if TYPE_CHECKING:
    from nodes.consortium.descriptor import ExternalNetworkDescriptor


def join(
    descriptor_file: Annotated[
        Path,
        typer.Option(
            "--descriptor", exists=True, dir_okay=False, help="the network descriptor file"
        ),
    ],
    etcd: Annotated[
        str | None,
        typer.Option(help="etcd client URLs this node uses, comma-separated (etcd consortium)"),
    ] = None,
    ledger_url: Annotated[
        str | None,
        typer.Option(
            "--ledger-url",
            help="the external JSON-RPC network's URL, as this institution reaches it "
            "(a descriptor written by init --ledger-url)",
        ),
    ] = None,
    home_dir: HomeOption = None,
    learner: Annotated[
        bool,
        typer.Option(
            "--learner", help="follow and verify only, never stand for minter (a regulator)"
        ),
    ] = False,
    advertise_rpc_url: Annotated[
        str, typer.Option(help="the JSON-RPC URL peers reach this node at")
    ] = DEFAULT_RPC_URL,
    lease_ttl: Annotated[
        int, typer.Option(min=2, help="seconds a dead minter holds the election")
    ] = 5,
    institution: Annotated[
        str,
        typer.Option(help="the institution's name, in the CA its API makes for its members"),
    ] = "Joining institution",
    peer_listen: Annotated[
        str | None,
        typer.Option(
            help="host:port where the node serves history to other institutions' nodes over "
            "mutual TLS (between machines)"
        ),
    ] = None,
    advertise_peer_url: Annotated[
        str | None, typer.Option(help="with --peer-listen: the https URL other nodes reach it at")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a home for an existing consortium network: over etcd, synced from the log (over
    https etcd, on a home made by ``node request-certificate`` holding its certificate);
    over an external JSON-RPC network, checked to be the descriptor's network."""
    from nodes.consortium.descriptor import NetworkDescriptor, read_descriptor

    home = NodeHome(home_dir or default_home())
    try:
        found = read_descriptor(descriptor_file)
    except ScfError as exc:
        console.print(f"[red]Joining failed:[/red] {exc.message}")
        raise typer.Exit(1) from None
    if not isinstance(found, NetworkDescriptor):
        if etcd is not None or ledger_url is None or learner:
            console.print(
                "[red]The descriptor is of an external JSON-RPC network: join it with "
                "--ledger-url (and no --etcd or --learner)[/red]"
            )
            raise typer.Exit(2)
        if home.existing_parts():
            console.print(f"[red]{home.path} is not empty; refusing to overwrite it.[/red]")
            raise typer.Exit(1)
        _join_external(home, found, ledger_url, as_json)
        return
    if etcd is None or ledger_url is not None:
        console.print(
            "[red]The descriptor is of an etcd consortium: join it with --etcd "
            "(and no --ledger-url)[/red]"
        )
        raise typer.Exit(2)
    from chain.consortium.seal import node_id
    from nodes.commands.init import peer_endpoint
    from nodes.consortium.certificates import has_certificate, node_certificate_files
    from nodes.consortium.descriptor import ConsortiumSettings, parse_endpoints, uses_tls
    from nodes.consortium.joining import is_prepared, join_network

    descriptor = found
    prepared = is_prepared(home)
    if home.existing_parts() and not prepared:
        console.print(f"[red]{home.path} is not empty; refusing to overwrite it.[/red]")
        raise typer.Exit(1)
    try:
        endpoints = parse_endpoints(etcd)
        peer = peer_endpoint(peer_listen, advertise_peer_url, None)
        settings = ConsortiumSettings(
            endpoints,
            learner=learner,
            advertise_rpc_url=advertise_rpc_url,
            lease_ttl=lease_ttl,
            etcd_tls=uses_tls(endpoints),
            peer_listen=peer.listen,
            advertise_peer_url=peer.url,
        )
    except ScfError as exc:
        console.print(f"[red]Joining failed:[/red] {exc.message}")
        raise typer.Exit(1) from None
    try:
        passphrase = read_passphrase(descriptor.dev, new=not prepared)
        with console.status(f"Syncing chain {descriptor.chain_id} from etcd ..."):
            key = join_network(
                home, descriptor, passphrase=passphrase, settings=settings, institution=institution
            )
    except ScfError as exc:
        _remove_made(home, prepared)
        console.print(f"[red]Joining failed:[/red] {exc.message}")
        raise typer.Exit(1) from None
    request = node_certificate_files(home).request
    if as_json:
        print_json(
            {
                "home": str(home.path),
                "chain_id": descriptor.chain_id,
                "public_key": key.public_key.hex(),
                "node_id": "0x" + node_id(key.public_key).hex(),
                "certificate_request": str(request),
            }
        )
        return
    console.print(f"Joined chain {descriptor.chain_id}: home {home.path}, synced and verified.")
    console.print(f"Node public key: 0x{key.public_key.hex()}")
    endpoint = settings.advertise_peer_url or advertise_rpc_url
    if has_certificate(home):
        console.print(
            "Next, on a governor's home: scf-node node propose-add --public-key "
            f"{key.public_key.hex()} --owner <member id> --endpoint {endpoint}; then "
            f"scf-node start --home {home.path}"
        )
        return
    console.print(
        "Next, on the founding home: sign this node's certificate request and propose it:\n"
        f"  scf-node node certify {request} --out node.pem --home <founding home>\n"
        f"  scf-node node propose-add --public-key {key.public_key.hex()} --owner <member id> "
        f"--endpoint {endpoint} --home <founding home>\n"
        f"then: scf-node node install-certificate node.pem --home {home.path}; "
        f"scf-node start --home {home.path}"
    )


def _join_external(
    home: NodeHome, descriptor: ExternalNetworkDescriptor, url: str, as_json: bool
) -> None:
    """``join --ledger-url``: nothing is written until the network is found to be the
    descriptor's; a failed join leaves no home behind."""
    from nodes.commands.init import remove_made
    from nodes.consortium.external_network import (
        check_ca,
        check_network,
        home_parts,
        join_external,
    )
    from nodes.runtime.external import open_network

    try:
        check_ca(descriptor)
        ledger = open_network(url)
        try:
            check_network(ledger, descriptor)
            passphrase = read_passphrase(descriptor.dev, new=True)
            try:
                joined = join_external(home, descriptor, ledger, passphrase)
            except BaseException:
                remove_made(home_parts(home))
                raise
        finally:
            ledger.close()
    except ScfError as exc:
        console.print(f"[red]Joining failed:[/red] {exc.message}")
        raise typer.Exit(1) from None
    if as_json:
        print_json(
            {
                "home": str(home.path),
                "chain_id": descriptor.chain_id,
                "ledger_url": url,
                "governor": joined.governor,
                "certificate_request": str(joined.certificate_request),
                "public_key": joined.node_public_key,
            }
        )
        return
    console.print(
        f"Joined chain {descriptor.chain_id} on the JSON-RPC network at {url}: home "
        f"{home.path} (the network and its contracts checked; nothing deployed)."
    )
    console.print(f"Governor key {joined.governor} (a governor once the committee votes it in)")
    request = joined.certificate_request
    console.print(
        "Next, on the founding home: sign this node's certificate request:\n"
        f"  scf-node node certify {request} --out node.pem --home <founding home>\n"
        f"then: scf-node node install-certificate node.pem --home {home.path}; "
        f"scf-node start --home {home.path}\n"
        "To exchange private documents with other institutions' nodes, name the document "
        "endpoint in node.json (documents: listen, url) and have a governor add the node:\n"
        f"  scf-node node propose-add --public-key {joined.node_public_key} --owner <member id> "
        "--endpoint <document url> --home <a governor's home>"
    )


def _remove_made(home: NodeHome, prepared: bool) -> None:
    """Undo a failed join: what it writes (as a failed ``init --consortium`` does); a
    prepared home keeps what ``node request-certificate`` made and the certificate."""
    from nodes.commands.init import consortium_home_parts, remove_made

    if not prepared:
        remove_made(consortium_home_parts(home))
        return
    kept = {home.node_keystore, home.pki_dir}
    own_ca = [home.pki_dir / name for name in ("ca.pem", "ca-key.pem", "node.pem", "node-key.pem")]
    remove_made([p for p in consortium_home_parts(home) if p not in kept] + own_ca)
