"""``scf-node node``: the allow-list of ledger nodes in NodeRegistry, changed by proposals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chain.errors import ScfError
from nodes.commands.common import (
    DevOption,
    HomeOption,
    JsonOption,
    KeystoreOption,
    console,
    governing,
    home_of,
    print_json,
    reading,
    report_outcome,
    reported_errors,
    table,
)

app = typer.Typer(
    rich_markup_mode="markdown",
    help="Ledger nodes on the allow-list: list, propose adding or removing.",
    no_args_is_help=True,
)


LIVE_FIELDS = ("reachable", "role", "head", "lag", "state", "halted")


@app.command("list")
def list_nodes(home_dir: HomeOption = None, as_json: JsonOption = False) -> None:
    """Every node ever added, allowed or removed."""
    from nodes.commands import views
    from nodes.consortium.descriptor import is_consortium

    home = home_of(home_dir)
    live: dict[str, dict[str, Any]] = {}
    unlisted: list[dict[str, Any]] = []
    with reading(home) as connection:
        found = views.nodes(connection.consortium)
        if is_consortium(home):  # each node's role and head, from its heartbeat in etcd
            from nodes.consortium.cluster import view

            cluster = view(connection, found)
            seen = cluster["nodes"] + cluster["other_nodes"]
            live = {n["id"].lower(): n for n in seen}
            listed = {n["id"].lower() for n in found}
            unlisted = [n for n in seen if n["id"].lower() not in listed]
    for node in found:
        state = live.get(node["id"].lower())
        if state is not None:
            node["live"] = {k: state[k] for k in LIVE_FIELDS}
    if as_json:
        print_json(found)
        return
    rows = [
        (n["id"], n["owner_member_id"], n["endpoint"], "yes" if n["allowed"] else "removed")
        for n in found
    ]
    if not live:
        console.print(table("Nodes", ("id", "owner", "endpoint", "allowed"), rows))
        return
    from nodes.commands.status import live_state

    with_live = [
        (*row, live_state(n["live"]) if "live" in n else "-")
        for row, n in zip(rows, found, strict=True)
    ]
    with_live += [(n["id"], None, n["endpoint"], "not listed", live_state(n)) for n in unlisted]
    console.print(table("Nodes", ("id", "owner", "endpoint", "allowed", "live"), with_live))


@app.command("propose-add")
def propose_add(
    public_key: Annotated[
        str, typer.Option(help="secp256k1 public key, 64 bytes hex (uncompressed, no 04 prefix)")
    ],
    owner: Annotated[int, typer.Option(min=1, help="id of the member that runs the node")],
    endpoint: Annotated[str, typer.Option(help="where the node is reached, e.g. host:30303")],
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose adding a node to the allow-list."""
    with reported_errors():
        key = _hex(public_key, "public key")
    with governing(home_of(home_dir), keystore, dev) as governor:
        registry = governor.connection.consortium.nodes
        outcome = governor.propose_and_settle(
            [(registry, "addNode", (key, owner, endpoint))], f"Add node {endpoint}"
        )
    report_outcome(outcome, as_json, f"Add node {endpoint}")


@app.command("propose-remove")
def propose_remove(
    node_id: Annotated[str, typer.Argument(help="node id (32 bytes hex, from `node list`)")],
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose removing a node from the allow-list."""
    with reported_errors():
        raw_id = _hex(node_id, "node id")
        if len(raw_id) != 32:
            raise ScfError(f"a node id is 32 bytes, got {len(raw_id)}")
    with governing(home_of(home_dir), keystore, dev) as governor:
        registry = governor.connection.consortium.nodes
        registry.call("getNode", raw_id)  # NodeNotFound before anything is signed
        outcome = governor.propose_and_settle(
            [(registry, "removeNode", (raw_id,))], f"Remove node 0x{raw_id.hex()}"
        )
    report_outcome(outcome, as_json, f"Remove node 0x{raw_id.hex()}")


def _hex(value: str, what: str) -> bytes:
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise ScfError(f"the {what} must be hex, got {value!r}") from None


@app.command("certify")
def certify_request(
    request: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="the joining node's node.csr")
    ],
    out: Annotated[Path, typer.Option(help="where to write the signed certificate (PEM)")],
    name: Annotated[
        str, typer.Option(help="the node's name in the certificate")
    ] = "consortium-node",
    host: Annotated[
        list[str] | None,
        typer.Option(help="a host name or IP the node serves at; repeat (default: loopback)"),
    ] = None,
    home_dir: HomeOption = None,
    dev: DevOption = False,
) -> None:
    """On the home holding the consortium CA: sign a joining node's certificate request."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from chain.consortium.tls import node_of
    from nodes.commands.common import passphrase
    from nodes.consortium.certificates import certify

    home = home_of(home_dir)
    with reported_errors():
        pem = certify(
            home, passphrase(dev or home.is_dev()), request.read_bytes(), name, host or []
        )
        out.write_bytes(pem)
    # whether the peer endpoints will take it: a node's request names its node key
    node = node_of(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))
    if node is None:
        console.print(f"Signed an etcd member's certificate (it names no node): {out}")
    else:
        console.print(f"Signed the certificate of node 0x{node.hex()}: {out}")


@app.command("install-certificate")
def install_certificate(
    certificate: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="the signed node.pem")
    ],
    home_dir: HomeOption = None,
    dev: DevOption = False,
) -> None:
    """Keep the node certificate the consortium CA signed for this node's request."""
    from nodes.commands.common import passphrase
    from nodes.consortium.certificates import install

    home = home_of(home_dir)
    with reported_errors():
        installed = install(home, passphrase(dev or home.is_dev()), certificate.read_bytes())
    console.print(f"Installed the node certificate {installed.subject.rfc4514_string()}")


@app.command("create-ca")
def create_ca(
    name: Annotated[
        str, typer.Option(help="the consortium's name in the CA certificate")
    ] = "SCF Chain Consortium",
    home_dir: HomeOption = None,
    dev: DevOption = False,
) -> None:
    """On the founding home, before etcd starts: the consortium CA, which certifies the
    etcd members and the nodes (``init --consortium`` then founds with it)."""
    from nodes.commands.common import passphrase
    from nodes.consortium.certificates import consortium_ca_dir, create_consortium_ca

    home = home_of(home_dir)
    if home.existing_parts():
        console.print(f"[red]{home.path} already holds a home; the CA comes before it.[/red]")
        raise typer.Exit(1)
    with reported_errors():
        create_consortium_ca(home, passphrase(dev, new=True), name)
    console.print(
        f"Consortium CA: {consortium_ca_dir(home) / 'ca.pem'} (give it to every etcd member "
        "and institution; its key stays in this home)"
    )


@app.command("etcd-request")
def etcd_request(
    name: Annotated[str, typer.Option(help="the etcd member's name (its --name)")],
    directory: Annotated[
        Path, typer.Option("--dir", file_okay=False, help="where its key and request go")
    ],
) -> None:
    """On an etcd member's machine: its key (unencrypted, 0600: etcd reads it) and a
    certificate request for the founding operator's ``node certify``."""
    from nodes.consortium.certificates import write_etcd_request

    with reported_errors():
        key, request = write_etcd_request(directory, name)
    console.print(f"etcd member key: {key} (stays here); request: {request}")
    console.print(
        f"Next, on the founding home: scf-node node certify {request.name} --name {name} "
        f"--host <its host name or IP> --out {name}.pem"
    )


@app.command("renew-request")
def renew_request(home_dir: HomeOption = None, dev: DevOption = False) -> None:
    """A new certificate request for this home's node (same TLS key, bound to its node
    key), for the founding operator's ``node certify``: before the certificate expires,
    or when it names no node (issued before certificates named their node)."""
    from nodes.commands.common import passphrase
    from nodes.consortium.certificates import write_renewal_request
    from nodes.consortium.stack import node_key_of

    home = home_of(home_dir)
    with reported_errors():
        secret = passphrase(dev or home.is_dev())
        request = write_renewal_request(home, secret, node_key_of(home, secret))
    console.print(
        f"Certificate request: {request}. Next: the founding operator runs scf-node node "
        f"certify {request.name} --host <this node's host> --out node.pem; then scf-node "
        f"node install-certificate node.pem --home {home.path}"
    )


@app.command("request-certificate")
def request_certificate(
    descriptor_file: Annotated[
        Path,
        typer.Option(
            "--descriptor", exists=True, dir_okay=False, help="the network descriptor file"
        ),
    ],
    home_dir: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Before ``join`` over https etcd: a new home's node key and its certificate request
    (``pki/consortium/node.csr``) for the founding operator's ``node certify``."""
    from chain.consortium.seal import node_id
    from nodes.commands.common import passphrase
    from nodes.consortium.certificates import node_certificate_files
    from nodes.consortium.descriptor import NetworkDescriptor
    from nodes.consortium.joining import prepare_node

    home = home_of(home_dir)
    if home.existing_parts() or home.node_keystore.exists():
        console.print(f"[red]{home.path} is not empty; refusing to overwrite it.[/red]")
        raise typer.Exit(1)
    with reported_errors():
        descriptor = NetworkDescriptor.load(descriptor_file)
        key = prepare_node(home, descriptor, passphrase(descriptor.dev, new=True))
    request = node_certificate_files(home).request
    if as_json:
        print_json(
            {
                "home": str(home.path),
                "public_key": key.public_key.hex(),
                "node_id": "0x" + node_id(key.public_key).hex(),
                "certificate_request": str(request),
            }
        )
        return
    console.print(f"Node public key: 0x{key.public_key.hex()}; certificate request: {request}")
    console.print(
        f"Next: the founding operator runs scf-node node certify {request.name} --host <this "
        f"node's host> --out node.pem; then scf-node node install-certificate node.pem "
        f"--home {home.path}; then scf-node join --home {home.path} ..."
    )
