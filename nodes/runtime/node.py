"""A running node's lifetime: what ``scf-node start`` starts, in order, and stops.

The steps, each undone in reverse by one ``contextlib.ExitStack`` however the node ends
(a step that fails, Ctrl-C, SIGTERM):

1. the home's ledger claim (``nodes.connect``): one process owns the home;
2. on a first start, the home itself (the command line's ``initialize``);
3. the governor's keystore;
4. the ledger: the embedded one in its child process, or the external network
   (``nodes.runtime.ledger_run``);
5. the consortium PKI of the home (``nodes.pki.home``);
6. the transaction store;
7. the API's services and the indexer (``nodes.runtime.service.build_api``);
8. the REST API server;
9. the read replica in its child process (``nodes.runtime.read_replica``).

``tests/nodes/test_node_lifetime.py`` makes each step fail in turn and checks that
nothing is left behind: the claim is free, no child process runs, the store is closed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from chain.errors import ScfError
from nodes.connect import LedgerClaim, local_url, try_claim
from nodes.consortium.descriptor import is_consortium
from nodes.home import OPERATOR_CREDIT_CODE, RPC_LEDGER, NodeHome
from nodes.runtime import ports
from nodes.runtime.ledger_run import LedgerRun, follow_external, run_embedded
from nodes.runtime.placement import NodePlacement, ProcessPlacement, apply

if TYPE_CHECKING:
    import uvicorn

    from chain.accounts import Signer
    from chain.txmanager import TransactionManager
    from chain.txstore import TxStore
    from nodes.runtime.read_replica import ReplicaSupervisor
    from nodes.runtime.service import ApiService

REPLICA_CHECK_SECONDS = 1.0  # how often the node looks whether its children still run


class HomeTaken(ScfError):
    """Another ``scf-node start`` claimed the home between the check and the claim."""

    code = "home_in_use"


class WrongPassphrase(ScfError):
    """The passphrase does not open the home's governor keystore."""

    code = "wrong_passphrase"


@dataclass(frozen=True)
class NodeOptions:
    """How ``scf-node start`` was asked to run the node (its options)."""

    dev: bool
    host: str
    rpc_host: str
    rpc_port: int
    api_port: int
    read_port: int
    read_replica: bool
    tls: bool
    chain_id: int

    @property
    def rpc_url(self) -> str:
        """Where this machine reaches the node's JSON-RPC."""
        return local_url("http", self.rpc_host, self.rpc_port)


class NodeRuntime:
    """One run of a home's node. ``with NodeRuntime(...) as node:`` starts every part (a
    failure stops what had started, and raises); ``node.serve()`` serves until Ctrl-C,
    SIGTERM or ``node.stop()``; leaving the block stops every part in reverse order.

    ``out`` and ``err``: the consoles the node tells its operator on (``make_home``: how a
    first start makes the home, given by the command line).
    """

    def __init__(
        self,
        home: NodeHome,
        passphrase: str,
        options: NodeOptions,
        placement: NodePlacement,
        *,
        out: Console,
        err: Console,
        make_home: Callable[[], None] | None = None,
        handle_signals: bool = True,
    ) -> None:
        self.home = home
        self.passphrase = passphrase
        self.options = options
        self.placement = placement
        self.out = out
        self.err = err
        self.make_home = make_home
        self.handle_signals = handle_signals
        self.stopped = threading.Event()
        self._running = contextlib.ExitStack()

    def __enter__(self) -> NodeRuntime:
        with contextlib.ExitStack() as starting:  # a failed step unwinds what started
            self._start(starting)
            self._running = starting.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._running.close()

    def stop(self) -> None:
        """Stop serving (what Ctrl-C and SIGTERM do); the parts stop on leaving the block."""
        self.stopped.set()

    # ---- starting, step by step --------------------------------------------------------

    def _start(self, running: contextlib.ExitStack) -> None:
        self.claim = self._claim(running)
        if self.make_home is not None:
            self.make_home()
        self.home.keep_private()
        governor = self._open_governor()
        # Ctrl-C / SIGTERM from here on stop the node in order (after it finished starting):
        # JSON-RPC answers before the API is up, and a client may stop the node that early.
        if self.handle_signals:
            self._stop_on_signals(running)
        self.ledger = self._start_ledger(running)
        self.claim.publish(self.ledger.rpc_url, dev=self.options.dev)
        self._show_ledger()
        self._ensure_pki(governor)
        store = self._open_store(running)
        with self.out.status("Catching up the read model ..."):
            self.service = self._build_api(governor, store)
        self.service.run_indexer(self.stopped)
        running.callback(self.stopped.set)  # the indexer's and the webhooks' threads end
        self.api_url = self._serve(running)
        from api.services.container import services_of  # the API loads with the service

        services_of(self.service.app).dev_mode = self.options.dev  # /healthz shows it
        if is_consortium(self.home):  # /healthz and /metrics show its role
            from nodes.consortium.probe import ConsortiumProbe

            services_of(self.service.app).consortium_probe = ConsortiumProbe(self.ledger.ledger)
            from nodes.consortium.documents import start_document_exchange

            start_document_exchange(self.home, self.passphrase, self.service.app, running)
        elif "documents" in self.home.read_settings():  # a node on an external network
            from nodes.consortium.documents import start_external_document_exchange

            app = self.service.app
            url = start_external_document_exchange(self.home, self.passphrase, app, running)
            if url is not None:
                self.out.print(f"Documents from other institutions' nodes: {url}")
        self.claim.publish(self.ledger.rpc_url, self.api_url, dev=self.options.dev)
        self.replicas: ReplicaSupervisor | None = None
        if self.options.read_replica:
            self.replicas = self._start_read_replica(running)
            if self.replicas.replica is not None:
                read_url = self.replicas.replica.url
                self.claim.publish(
                    self.ledger.rpc_url, self.api_url, read_url, dev=self.options.dev
                )

    def _claim(self, running: contextlib.ExitStack) -> LedgerClaim:
        claim = try_claim(self.home)  # the ledger has one owner; commands reach it over RPC
        if claim is None:  # another start took it since the command line's check
            raise HomeTaken(
                f"{self.home.path} is in use by another scf-node process; stop it first."
            )
        running.callback(claim.release)
        return claim

    def _open_governor(self) -> Signer:
        try:
            return self.home.read_keystore(self.passphrase)
        except ValueError:  # eth-account: "MAC mismatch"
            raise WrongPassphrase(
                f"Wrong passphrase for {self.home.keystore}.",
                details={"keystore": str(self.home.keystore)},
            ) from None

    def _stop_on_signals(self, running: contextlib.ExitStack) -> None:
        def stop(_signal: int, _frame: FrameType | None) -> None:
            self.stopped.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            running.callback(signal.signal, sig, signal.signal(sig, stop))

    def _start_ledger(self, running: contextlib.ExitStack) -> LedgerRun:
        """The home's ledger: the embedded one started in its child process, or the external
        network reached; stopped (or let go) when the node stops."""
        options = self.options
        run = (
            follow_external(self.home)
            if self.home.ledger_kind() == RPC_LEDGER
            else run_embedded(
                self.home,
                options.dev,
                options.rpc_host,
                options.rpc_port,
                self.placement.ledger,
                lambda message: self.out.print(f"[yellow]Ledger process: {message}[/yellow]"),
                self.passphrase if is_consortium(self.home) else None,
            )
        )
        running.callback(run.ledger.close)
        running.callback(run.shutdown)
        return run

    def _show_ledger(self) -> None:
        table = Table(title=self.ledger.title)
        table.add_column("contract")
        table.add_column("address")
        for name, address in self.ledger.consortium.addresses().items():
            table.add_row(name, address)
        self.out.print(table)
        for note in self.ledger.notes:
            self.out.print(note)
        self.out.print(self.ledger.rpc_line)

    def _ensure_pki(self, governor: Signer) -> None:
        from nodes.pki.home import ensure_home_pki

        chain_id = int(self.home.read_settings()["chain_id"])
        _, note = ensure_home_pki(
            self.home,
            self.passphrase,
            chain_id,
            self.ledger.consortium,
            governor,
            OPERATOR_CREDIT_CODE,
            self.options.host,
        )
        if note:
            self.out.print(f"PKI: {note}")

    def _open_store(self, running: contextlib.ExitStack) -> TxStore:
        """The transaction store: every signed transaction, kept before it is sent."""
        from chain.txstore import TxStore

        store = TxStore(self.home.path / "transactions.db")
        running.callback(store.close)
        return store

    def _build_api(self, governor: Signer, store: TxStore) -> ApiService:
        from nodes.connect import database_url
        from nodes.runtime.service import build_api

        consortium = self.ledger.consortium
        home, passphrase = self.home, self.passphrase
        return build_api(home, consortium, governor, passphrase, database_url(home), store)

    def _serve(self, running: contextlib.ExitStack) -> str:
        """The REST API, served until the node stops; its URL."""
        from nodes.runtime.heap import freeze_startup

        host, options, placement = self.options.host, self.options, self.placement
        # this process and the children it starts from now on run on the API's CPUs; the
        # niceness applies to the API server's threads only (the replica is started from here)
        apply(ProcessPlacement(placement.api.cpus))
        freeze_startup()
        api_socket = ports.bind(ports.rest_api(host, options.api_port))
        api_port = api_socket.getsockname()[1]
        try:
            server, thread = self.service.serve(
                api_socket, tls=options.tls, niceness=placement.api.niceness
            )
        except BaseException:
            api_socket.close()
            raise
        running.callback(_stop_api, server, thread)
        scheme = "https" if options.tls else "http"
        cacert = f"--cacert {self.home.pki_dir / 'ca.pem'} " if options.tls else ""
        key_file = self.service.operator_key_file
        self.out.print(
            f"REST API: {scheme}://{host}:{api_port}/v1  (docs: {scheme}://{host}:{api_port}/docs)"
        )
        if key_file is None:
            self.out.print(
                "Operator API key: none (this home's governor key is no member's account; "
                "issue your institution's members their keys: scf-node member api-key ID "
                f"--home {self.home.path})"
            )
        else:
            self.out.print(f"Operator API key: {key_file}")
            self.out.print(
                f'Try: curl {cacert}-H "Authorization: Bearer $(cat {key_file})" '
                f"{scheme}://{host}:{api_port}/v1/members/me"
            )
        return local_url(scheme, host, api_port)

    def _start_read_replica(self, running: contextlib.ExitStack) -> ReplicaSupervisor:
        """The read replica beside the API, kept running (``nodes.runtime.read_replica``)."""
        from nodes.runtime.read_replica import ReplicaSupervisor, spawn_replica

        options = self.options
        supervisor = ReplicaSupervisor(
            lambda: spawn_replica(
                self.home,
                host=options.host,
                port=options.read_port,
                tls=options.tls,
                passphrase=self.passphrase,
                primary_url=self.api_url,
                placement=self.placement.replica,
            ),
            lambda message: self.out.print(f"[yellow]Read replica: {message}[/yellow]"),
        )
        running.callback(supervisor.stop)
        if supervisor.replica is not None:
            self.out.print(f"Read replica (GET routes): {supervisor.replica.url}/v1")
        return supervisor

    # ---- serving -------------------------------------------------------------------------

    def serve(self) -> None:
        """Keep the children running and ``scf-node status`` informed, until the node is
        told to stop."""
        from nodes.runtime.supervisor import watch_children

        home = self.home
        self.out.print(
            f"Next: scf-node status --home {home.path} | scf-node member list --home {home.path}"
            " | scf-node demo"
        )
        if self.options.dev:  # last before serving, where an operator cannot miss it
            from nodes.dev_mode import announce

            announce(self.err)
        self.out.print("Ctrl-C stops the node.")
        children = [c for c in (self.ledger.supervisor, self.replicas) if c is not None]
        from api.services.container import services_of

        services = services_of(self.service.app)
        services.child_processes.attach(lambda: [c.status() for c in children])
        if self.ledger.supervisor is not None:
            txm = self.service.txm
            self.ledger.supervisor.on_restart = lambda _: self._resend_after_restart(txm)
        watch_children(self.stopped, children, REPLICA_CHECK_SECONDS, self._publish)
        self.out.print(self.ledger.stopping)

    def _publish(self, processes: list[dict[str, Any]]) -> None:  # for scf-node status
        replica = self.replicas.replica if self.replicas is not None else None
        read_url = replica.url if replica is not None else None
        self.claim.publish(
            self.ledger.rpc_url,
            self.api_url,
            read_url,
            processes=processes,
            dev=self.options.dev,
        )

    def _resend_after_restart(self, txm: TransactionManager) -> None:
        """A ledger that ended lost the transactions it had not sealed: send them again (the
        transaction store holds every one, so none is lost and none is sent twice)."""
        try:
            sent = txm.resend_unconfirmed()
        except ScfError as exc:
            self.out.print(f"[yellow]Ledger process: could not re-send transactions: {exc.message}")
            return
        if sent:
            self.out.print(f"Ledger process: re-sent {len(sent)} transactions it had not sealed")


def _stop_api(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=10)
