"""Factories and assertions shared by the test suites."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils.crypto import keccak
from web3.types import TxReceipt

from chain.accounts import Signer
from chain.contract import ContractHandle, deploy_contract
from chain.credit_code import credit_code_hash, make_credit_code
from chain.deploy import Consortium, MemberSpec
from chain.errors import ContractRevert
from chain.governance import (
    Call,
    ProposalState,
    execution_failure,
    pass_proposal,
    proposal_state,
    propose,
)
from chain.invoice_key import invoice_key
from chain.ledger import Ledger
from chain.roles import Role
from chain.scf import (
    Certificate,
    Root,
    get_certificate,
    get_root,
)
from chain.txmanager import PendingTx, TransactionManager
from chain.txstore import TxRecord, TxStatus, utc_now

FUNDING_WEI = 10**20
_serial = itertools.count(1)


def new_signer(ledger: Ledger) -> Signer:
    """A fresh account with ether for gas."""
    signer = Signer.create()
    ledger.fund(signer.address, FUNDING_WEI)
    return signer


def new_credit_code() -> str:
    """A valid, never-repeated unified social credit code."""
    return make_credit_code(f"91110000{next(_serial):09d}")


@dataclass(frozen=True)
class Member:
    id: int
    signer: Signer
    name: str
    credit_code: str

    @property
    def address(self) -> str:
        return self.signer.address


def admit_member(
    consortium: Consortium,
    governor: Signer,
    roles: Sequence[Role],
    name: str | None = None,
    voters: Sequence[Signer] = (),
) -> Member:
    """Admit a new company with a fresh funded account through a governance proposal."""
    signer = new_signer(consortium.ledger)
    spec = MemberSpec(
        name=name or f"Company {next(_serial)}",
        credit_code=new_credit_code(),
        roles=roles,
        account=signer.address,
    )
    pass_proposal(
        consortium.governance,
        governor,
        [(consortium.members, "admitMember", spec.admit_args())],
        f"Admit {spec.name}",
        voters,
    )
    member_id = int(consortium.members.call("memberOf", signer.address))
    return Member(member_id, signer, spec.name, spec.credit_code)


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    if isinstance(actual, tuple | list) and isinstance(expected, tuple | list):
        return len(actual) == len(expected) and all(
            _same(a, e) for a, e in zip(actual, expected, strict=True)
        )
    return bool(actual == expected)


@contextmanager
def reverts(error_name: str, *args: Any) -> Iterator[pytest.ExceptionInfo[ContractRevert]]:
    """Expect a ``ContractRevert`` named ``error_name``, with exactly ``args`` when given."""
    with pytest.raises(ContractRevert) as info:
        yield info
    error = info.value
    assert error.error_name == error_name, f"expected {error_name}, got {error.message}"
    if args:
        assert _same(error.args_tuple, args), f"expected {error_name}{args}, got {error.message}"


def govern(consortium: Consortium, governor: Signer, *calls: Call) -> TxReceipt:
    """Run ``calls`` through an admin-mode proposal.

    If the execution fails, raise the ``ContractRevert`` of the action that failed, so that
    tests assert the target contract's own custom error.
    """
    gov = consortium.governance
    proposal_id, receipt = propose(gov, governor, calls, "test")
    failure = execution_failure(gov, receipt)
    if failure is not None:
        raise failure
    assert proposal_state(gov, proposal_id) is ProposalState.EXECUTED
    return receipt


# ---- supply-chain finance (issue 3): invoices, lines, certificates, tokens, financing ------

DAY = 86_400
INVOICE_CODE = "3100231130"  # a VAT invoice code (10 digits) for test invoices
ZERO_HASH = b"\0" * 32
MIN_SPLIT = keccak(text="MIN_SPLIT")
GRACE_PERIOD = keccak(text="GRACE_PERIOD")


# The contracts' enums and structs live in chain.scf; tests use these names.
CertificateView = Certificate
RootView = Root


def doc_hash(label: str) -> bytes:
    """A stand-in for the hash of an off-chain document."""
    return keccak(text=label)


def now(ledger: Ledger) -> int:
    """Timestamp of the latest block."""
    return int(ledger.get_block("latest")["timestamp"])


def certificate(consortium: Consortium, certificate_id: int) -> Certificate:
    return get_certificate(consortium, certificate_id)


def root(consortium: Consortium, root_id: int) -> Root:
    return get_root(consortium, root_id)


def balance(consortium: Consortium, who: Member | str) -> int:
    address = who.address if isinstance(who, Member) else who
    return int(consortium.settlement.call("balanceOf", address))


def set_parameter(consortium: Consortium, governor: Signer, key: bytes, value: int) -> None:
    govern(consortium, governor, (consortium.governance, "setParameter", (key, value)))


@dataclass(frozen=True)
class World:
    """A consortium with a cast: two core enterprises, three supplier tiers, two banks."""

    consortium: Consortium
    governor: Signer
    core: Member
    core2: Member
    tier1: Member
    tier2: Member
    tier3: Member
    bank: Member
    bank2: Member
    outsider: Signer  # funded, not a member

    @property
    def ledger(self) -> Ledger:
        return self.consortium.ledger


def make_world(consortium: Consortium, governor: Signer) -> World:
    """Admit the cast of ``World``: about ten transactions."""

    def admit(name: str, *roles: Role) -> Member:
        return admit_member(consortium, governor, list(roles), name=name)

    return World(
        consortium=consortium,
        governor=governor,
        core=admit("Core Motors Group", Role.CORE_ENTERPRISE),
        core2=admit("Core Steel Corp", Role.CORE_ENTERPRISE),
        tier1=admit("Tier-1 Parts Ltd", Role.SUPPLIER),
        tier2=admit("Tier-2 Castings Ltd", Role.SUPPLIER),
        tier3=admit("Tier-3 Screws Ltd", Role.SUPPLIER),
        bank=admit("First Bank", Role.FINANCIER),
        bank2=admit("Second Factoring Co", Role.FINANCIER),
        outsider=new_signer(consortium.ledger),
    )


def register_invoice(
    world: World,
    seller: Member,
    buyer: Member,
    amount: int,
    *,
    due_in: int = 60 * DAY,
    document: str | None = None,
) -> bytes:
    """Register a fresh invoice of ``seller`` to ``buyer``; return its key."""
    number = f"{next(_serial):08d}"
    key = invoice_key(credit_code_hash(seller.credit_code), INVOICE_CODE, number)
    issued = now(world.ledger)
    world.consortium.invoices.transact(
        seller.signer,
        "registerInvoice",
        INVOICE_CODE,
        number,
        buyer.id,
        amount,
        issued,
        issued + due_in,
        doc_hash(document or f"invoice {number}"),
    )
    return key


def confirmed_invoice(world: World, seller: Member, buyer: Member, amount: int) -> bytes:
    """A registered invoice its buyer has confirmed."""
    key = register_invoice(world, seller, buyer, amount)
    world.consortium.invoices.transact(buyer.signer, "confirmInvoice", key)
    return key


def grant_line(
    world: World, financier: Member, borrower: Member, limit: int, *, expires_in: int = 365 * DAY
) -> int:
    receipt = world.consortium.credit_lines.transact(
        financier.signer, "grantCreditLine", borrower.id, limit, now(world.ledger) + expires_in
    )
    return int(world.consortium.credit_lines.event_args(receipt, "CreditLineGranted")["lineId"])


def issue_certificate(
    world: World,
    issuer: Member,
    holder: Member,
    face_value: int,
    *,
    maturity_in: int = 90 * DAY,
    line_id: int | None = None,
    invoice_keys: Sequence[bytes] | None = None,
) -> int:
    """Issue a root certificate maturing at 00:00 UTC of the day ``maturity_in`` from now
    (as the API issues them: a maturity is a day); by default backed by one fresh
    confirmed invoice and a fresh line of ``world.bank``."""
    if line_id is None:
        line_id = grant_line(world, world.bank, issuer, face_value)
    if invoice_keys is None:
        invoice_keys = [confirmed_invoice(world, holder, issuer, face_value)]
    receipt = world.consortium.certificates.transact(
        issuer.signer,
        "issueCertificate",
        holder.id,
        face_value,
        (now(world.ledger) + maturity_in) // DAY * DAY,
        line_id,
        list(invoice_keys),
    )
    return int(world.consortium.certificates.event_args(receipt, "CertificateIssued")["id"])


def split(world: World, holder: Member, certificate_id: int, to: Member, amount: int) -> int:
    """Split-transfer ``amount`` of a certificate; return the new certificate's id."""
    certificates = world.consortium.certificates
    receipt = certificates.transact(holder.signer, "splitTransfer", certificate_id, to.id, amount)
    return int(certificates.event_args(receipt, "CertificateSplit")["childId"])


def mint(world: World, financier: Member, to: Member, amount: int) -> None:
    world.consortium.settlement.transact(
        financier.signer, "mint", to.address, amount, doc_hash("deposit")
    )


def approve_tokens(world: World, owner: Member, spender: str, amount: int) -> None:
    world.consortium.settlement.transact(owner.signer, "approve", spender, amount)


MAX_RATE_BPS = 10_000  # FinancingHub.MAX_RATE_BPS
AGREEMENT = keccak(text="agreement")  # the agreement test requests are made under


def approve_financing(world: World, financier: Member, request_id: int, rate_bps: int) -> TxReceipt:
    """The financier approves a request made under ``AGREEMENT`` at ``rate_bps``."""
    return world.consortium.financing.transact(
        financier.signer, "approveFinancing", request_id, rate_bps, AGREEMENT
    )


def request_financing(
    world: World,
    holder: Member,
    certificate_id: int,
    financier: Member,
    amount: int,
    *,
    expires_in: int = 7 * DAY,
    max_rate_bps: int = MAX_RATE_BPS,
) -> int:
    """Ask ``financier`` to discount ``amount`` of a certificate under ``AGREEMENT``,
    accepting any rate up to ``max_rate_bps`` (by default any rate at all)."""
    hub = world.consortium.financing
    receipt = hub.transact(
        holder.signer,
        "requestFinancing",
        certificate_id,
        financier.id,
        amount,
        max_rate_bps,
        AGREEMENT,
        now(world.ledger) + expires_in,
    )
    return int(hub.event_args(receipt, "FinancingRequested")["requestId"])


@contextmanager
def scoped_world(consortium: Consortium, governor: Signer) -> Iterator[World]:
    """A ``World`` that is gone again afterwards (for module-scoped fixtures)."""
    snapshot = consortium.ledger.snapshot()
    try:
        yield make_world(consortium, governor)
    finally:
        consortium.ledger.revert(snapshot)


def pause(consortium: Consortium, governor: Signer) -> None:
    govern(consortium, governor, (consortium.governance, "pause", ()))


def suspend(world: World, member: Member) -> None:
    members = world.consortium.members
    govern(world.consortium, world.governor, (members, "suspendMember", (member.id,)))


def event_names(contract: ContractHandle, receipt: TxReceipt) -> list[str]:
    return [str(e["event"]) for e in contract.events(receipt)]


def travel_to(ledger: Ledger, timestamp: int) -> None:
    """Make the next block's timestamp ``timestamp`` on the tester ledger: ``increase_time``
    mines a block at (latest + 1 + seconds) and every block after it is one second later."""
    ledger.increase_time(timestamp - now(ledger) - 2)


def pending_record(i: int, key: str | None = "") -> TxRecord:
    """A pending transaction row numbered ``i`` for transaction-store tests (hash = ``i``);
    its idempotency key is ``key-{i}`` unless ``key`` says otherwise (None: no key)."""
    return TxRecord(
        idempotency_key=f"key-{i}" if key == "" else key,
        sender=f"0x{i:040x}",
        nonce=0,
        to=None,
        data=b"",
        value=0,
        gas=21_000,
        raw=b"raw",
        tx_hash=i.to_bytes(32, "big"),
        status=TxStatus.PENDING,
        created_at=utc_now(),
    )


def revokes_for_one_block(
    ledger: Ledger, txm: TransactionManager
) -> tuple[PendingTx, PendingTx, int]:
    """Two revokes of one proposal sent back to back (on a ledger with a long block window
    they share a block): (first, second, proposal id). The second reverts only because of
    the first: on its parent state it would pass."""
    proposer, other = new_signer(ledger), new_signer(ledger)
    # two governors at 100 %: the proposer's own vote leaves the proposal pending
    governance = deploy_contract(
        ledger,
        proposer,
        "ConsortiumGovernance",
        [proposer.address, other.address],
        [1, 1],
        100,
        100,
        7 * 86_400,
    )
    call = governance.encode("setVotingPeriod", 14 * 86_400)
    propose = governance.encode("propose", [governance.address], [call], "longer votes")
    txm.transact(proposer, governance.address, propose, gas=2_000_000)
    proposal = int(governance.call("proposalCount"))
    revoke = governance.encode("revoke", proposal)
    first = txm.submit(proposer, governance.address, revoke, gas=200_000)
    second = txm.submit(proposer, governance.address, revoke, gas=200_000)
    return first, second, proposal


def second_revoke_refused_in_one_block(
    ledger: Ledger, txm: TransactionManager
) -> tuple[TxReceipt, TxReceipt]:
    """``revokes_for_one_block``, then check that the second is refused with the exact
    custom error, in the first one's block: (first's receipt, second's)."""
    first, second, proposal = revokes_for_one_block(ledger, txm)
    mined = txm.wait(first)
    with pytest.raises(ContractRevert) as refused:
        txm.wait(second)
    # on its parent state the second revoke passes: only the block's own data names it
    assert refused.value.error_name == "GovernanceProposalNotPending"
    assert refused.value.error_args["proposalId"] == proposal
    assert refused.value.tx_hash == second.tx_hash
    failed = ledger.get_transaction_receipt(second.tx_hash)
    assert failed is not None
    assert failed["blockNumber"] == mined["blockNumber"]
    return mined, failed
