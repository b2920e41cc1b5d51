"""Random sequences of the whole business, checked against a Python model after every step.

A Hypothesis state machine issues certificates, splits them, asks for financing, approves,
rejects, cancels and expires requests, lets time pass, repays roots and redeems certificates,
mints and burns settlement tokens, and tries to reuse an assigned invoice. Each rule predicts
from the model whether the contract must accept the call or which custom error it must raise.
After every step the invariants of issue 3 are checked on chain:

- per root: live values + redeemed value == face value;
- no certificate holds less than its escrow (so escrowed value never moved), and escrow equals
  the sum of the pending requests on it;
- nothing moved at or after maturity (no certificate was created at or after it);
- settlement-token supply == minted - burned;
- no invoice assigned twice, and the model's balances, values and holders are the chain's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.types import TxReceipt

from chain.credit_code import credit_code_hash
from chain.invoice_key import invoice_key
from chain.pricing import PricingError, quote_at
from chain.scf import InvoiceStatus
from tests.helpers import (
    AGREEMENT,
    DAY,
    INVOICE_CODE,
    Member,
    World,
    approve_tokens,
    doc_hash,
    govern,
    grant_line,
    mint,
    now,
    reverts,
)

MAX_UINT = 2**256 - 1
CASH = 10**15  # fen each bank and core enterprise starts with
# Calls expected to succeed carry explicit gas: py-evm's binary-search estimate would be most
# of the run time. Calls expected to revert are estimated, which fails fast with the error.
GAS = 2_000_000


@pytest.fixture(scope="module")
def world(world: World) -> World:
    """The cast, everyone funded for the whole run and the contracts allowed to take it."""
    consortium = world.consortium
    # the bank funds the whole run: its own issuance cap covers it
    cap = (consortium.settlement, "setIssuanceCap", (world.bank.id, 2**120 - 1))
    govern(consortium, world.governor, cap)
    for member in (world.bank, world.bank2, world.core, world.core2):
        mint(world, world.bank, member, CASH)
    for bank in (world.bank, world.bank2):
        approve_tokens(world, bank, consortium.financing.address, MAX_UINT)
    for core in (world.core, world.core2):
        approve_tokens(world, core, consortium.maturity.address, MAX_UINT)
    return world


@dataclass
class ModelCertificate:
    id: int
    root: int
    holder: Member
    value: int
    locked: int = 0


@dataclass
class ModelRoot:
    id: int
    issuer: Member
    face: int
    maturity: int
    repaid: bool = False
    redeemed: int = 0


@dataclass
class ModelRequest:
    id: int
    certificate: int
    requester: Member
    financier: Member
    amount: int
    expires: int
    max_rate: int
    pending: bool = True


def outcome(
    expected_error: str | None, send: Callable[[int | None], TxReceipt]
) -> TxReceipt | None:
    """Send, and demand success when ``expected_error`` is None, else exactly that error.

    ``send`` takes the gas to use (None: estimate)."""
    if expected_error is None:
        return send(GAS)
    with reverts(expected_error):
        send(None)
    return None


def pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)]


def machine_for(world: World) -> type[RuleBasedStateMachine]:
    consortium = world.consortium
    ledger = consortium.ledger
    certificates, hub, invoices = consortium.certificates, consortium.financing, consortium.invoices
    maturity_contract, token = consortium.maturity, consortium.settlement
    issuers = [world.core, world.core2]
    suppliers = [world.tier1, world.tier2, world.tier3]
    financiers = [world.bank, world.bank2]
    receivers = suppliers + financiers
    everyone = issuers + receivers
    lines = {
        core.id: grant_line(world, world.bank, core, 10**14, expires_in=3650 * DAY)
        for core in issuers
    }

    class ScfMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = ledger.snapshot()
            self.certs: dict[int, ModelCertificate] = {}
            self.roots: dict[int, ModelRoot] = {}
            self.requests: dict[int, ModelRequest] = {}
            self.invoices: dict[bytes, int] = {}  # key -> certificate id
            self.balances = {m.address: int(token.call("balanceOf", m.address)) for m in everyone}
            self.balances[maturity_contract.address] = int(
                token.call("balanceOf", maturity_contract.address)
            )
            self.supply = int(token.call("totalSupply"))
            self.numbers = itertools.count(1)

        def teardown(self) -> None:
            ledger.revert(self.snapshot)

        def next_time(self) -> int:
            """The timestamp of the next transaction's block."""
            return now(ledger) + 1

        # ---- issue ------------------------------------------------------------------------

        @initialize(face=st.integers(1, 10**9), days=st.integers(1, 30))
        def first_issue(self, face: int, days: int) -> None:
            self.issue(0, 0, face, days)

        @rule(
            issuer=st.integers(0, 1),
            holder=st.integers(0, 2),
            face=st.integers(1, 10**9),
            days=st.integers(1, 30),
        )
        def issue(self, issuer: int, holder: int, face: int, days: int) -> None:
            core, supplier = issuers[issuer], suppliers[holder]
            number = f"{next(self.numbers):08d}"
            key = invoice_key(credit_code_hash(supplier.credit_code), INVOICE_CODE, number)
            today = now(ledger)
            invoices.transact(
                supplier.signer,
                "registerInvoice",
                INVOICE_CODE,
                number,
                core.id,
                face,
                today,
                today + 60 * DAY,
                doc_hash("invoice"),
                gas=GAS,
            )
            invoices.transact(core.signer, "confirmInvoice", key, gas=GAS)
            maturity = now(ledger) + days * DAY
            receipt = certificates.transact(
                core.signer,
                "issueCertificate",
                supplier.id,
                face,
                maturity,
                lines[core.id],
                [key],
                gas=GAS,
            )
            new_id = int(certificates.event_args(receipt, "CertificateIssued")["id"])
            self.certs[new_id] = ModelCertificate(new_id, new_id, supplier, face)
            self.roots[new_id] = ModelRoot(new_id, core, face, maturity)
            self.invoices[key] = new_id

        @precondition(lambda self: bool(self.invoices))
        @rule(index=st.integers(0, 10**6))
        def reuse_an_assigned_invoice(self, index: int) -> None:
            key = pick(sorted(self.invoices), index)
            cert = self.certs[self.invoices[key]]
            core = self.roots[cert.root].issuer
            with reverts("InvoiceInvalidStatus", key, InvoiceStatus.ASSIGNED):
                certificates.transact(
                    core.signer,
                    "issueCertificate",
                    cert.holder.id if cert.holder in suppliers else world.tier1.id,
                    1,
                    now(ledger) + DAY,
                    lines[core.id],
                    [key],
                )

        # ---- split ------------------------------------------------------------------------

        # Rules draw `aim`: when True they pick among the objects the call should succeed
        # on (if any), so that successes are frequent; when False, among all of them.

        def some_cert(self, index: int, aim: bool) -> ModelCertificate:
            certs = sorted(self.certs.values(), key=lambda c: c.id)
            movable = [c for c in certs if c.value > c.locked and not self.matured(c.root)]
            result: ModelCertificate = pick(movable if aim and movable else certs, index)
            return result

        def matured(self, root_id: int) -> bool:
            return self.next_time() >= self.roots[root_id].maturity

        @staticmethod
        def amount_of(cert: ModelCertificate, share: int, aim: bool) -> int:
            """`share` percent of the free value when aiming, else of the whole value."""
            return (cert.value - cert.locked if aim else cert.value) * share // 100

        @precondition(lambda self: bool(self.certs))
        @rule(
            index=st.integers(0, 10**6),
            to=st.integers(0, 4),
            share=st.integers(0, 100),
            aim=st.booleans(),
        )
        def split(self, index: int, to: int, share: int, aim: bool) -> None:
            cert = self.some_cert(index, aim)
            recipient = receivers[to]
            amount = self.amount_of(cert, share, aim)
            error = self.move_error(cert, amount)
            if error is None and recipient.id == cert.holder.id:
                error = "CertificateInvalidRecipient"
            receipt = outcome(
                error,
                lambda gas: certificates.transact(
                    cert.holder.signer, "splitTransfer", cert.id, recipient.id, amount, gas=gas
                ),
            )
            if receipt is not None:
                child = int(certificates.event_args(receipt, "CertificateSplit")["childId"])
                cert.value -= amount
                self.certs[child] = ModelCertificate(child, cert.root, recipient, amount)

        def move_error(self, cert: ModelCertificate, amount: int) -> str | None:
            """The error `_requireMovable` must raise for moving `amount` now, if any."""
            if self.matured(cert.root):
                return "CertificateMatured"
            if amount == 0:
                return "CertificateInvalidAmount"
            if amount > cert.value:
                return "CertificateInsufficientValue"
            if amount > cert.value - cert.locked:
                return "CertificateLocked"
            return None

        # ---- financing --------------------------------------------------------------------

        @precondition(lambda self: bool(self.certs))
        @rule(
            index=st.integers(0, 10**6),
            financier=st.integers(0, 1),
            share=st.integers(0, 100),
            days=st.integers(1, 20),
            max_rate=st.integers(0, 3_000),
            aim=st.booleans(),
        )
        def request(
            self, index: int, financier: int, share: int, days: int, max_rate: int, aim: bool
        ) -> None:
            cert = self.some_cert(index, aim)
            bank = financiers[financier]
            amount = self.amount_of(cert, share, aim)
            expires = now(ledger) + days * DAY
            error = self.move_error(cert, amount)
            if error is None and bank.id == cert.holder.id:
                error = "FinancingInvalidFinancier"
            receipt = outcome(
                error,
                lambda gas: hub.transact(
                    cert.holder.signer,
                    "requestFinancing",
                    cert.id,
                    bank.id,
                    amount,
                    max_rate,
                    AGREEMENT,
                    expires,
                    gas=gas,
                ),
            )
            if receipt is not None:
                request_id = int(hub.event_args(receipt, "FinancingRequested")["requestId"])
                cert.locked += amount
                self.requests[request_id] = ModelRequest(
                    request_id, cert.id, cert.holder, bank, amount, expires, max_rate
                )

        def some_request(self, index: int, aim: bool) -> ModelRequest:
            requests = sorted(self.requests.values(), key=lambda r: r.id)
            open_ = [r for r in requests if r.pending and self.next_time() < r.expires]
            result: ModelRequest = pick(open_ if aim and open_ else requests, index)
            return result

        @precondition(lambda self: bool(self.requests))
        @rule(index=st.integers(0, 10**6), rate=st.integers(0, 3_000), aim=st.booleans())
        def approve(self, index: int, rate: int, aim: bool) -> None:
            request = self.some_request(index, aim)
            cert = self.certs[request.certificate]
            maturity = self.roots[cert.root].maturity
            at = self.next_time()
            error: str | None = None
            price = 0
            if not request.pending:
                error = "FinancingInvalidStatus"
            elif at >= request.expires:
                error = "FinancingRequestExpired"
            elif rate > request.max_rate:
                error = "FinancingRateAboveAccepted"
            else:
                try:
                    price = quote_at(request.amount, rate, maturity, at).price
                except PricingError:
                    error = "FinancingDiscountExceedsAmount"
                if error is None and at >= maturity:
                    error = "CertificateMatured"
            receipt = outcome(
                error,
                lambda gas: hub.transact(
                    request.financier.signer,
                    "approveFinancing",
                    request.id,
                    rate,
                    AGREEMENT,
                    gas=gas,
                ),
            )
            if receipt is None:
                return
            financed = int(hub.event_args(receipt, "FinancingApproved")["financedCertificateId"])
            assert hub.event_args(receipt, "FinancingApproved")["price"] == price
            request.pending = False
            cert.locked -= request.amount
            cert.value -= request.amount
            self.certs[financed] = ModelCertificate(
                financed, cert.root, request.financier, request.amount
            )
            self.balances[request.financier.address] -= price
            self.balances[request.requester.address] += price

        @precondition(lambda self: bool(self.requests))
        @rule(
            index=st.integers(0, 10**6),
            how=st.sampled_from(["reject", "cancel", "expire"]),
            aim=st.booleans(),
        )
        def close(self, index: int, how: str, aim: bool) -> None:
            requests = sorted(self.requests.values(), key=lambda r: r.id)
            closable = [
                r
                for r in requests
                if r.pending and (how != "expire" or self.next_time() >= r.expires)
            ]
            request = pick(closable if aim and closable else requests, index)
            error: str | None = None
            if not request.pending:
                error = "FinancingInvalidStatus"
            elif how == "expire" and self.next_time() < request.expires:
                error = "FinancingRequestNotExpired"
            signer, function, args = {
                "reject": (request.financier.signer, "rejectFinancing", (b"\0" * 32,)),
                "cancel": (request.requester.signer, "cancelFinancing", ()),
                "expire": (world.outsider, "expireFinancing", ()),
            }[how]
            if outcome(
                error, lambda gas: hub.transact(signer, function, request.id, *args, gas=gas)
            ):
                request.pending = False
                self.certs[request.certificate].locked -= request.amount

        # ---- time and maturity ------------------------------------------------------------

        @rule(days=st.integers(0, 40), seconds=st.integers(1, DAY))
        def time_passes(self, days: int, seconds: int) -> None:
            ledger.increase_time(days * DAY + seconds)

        @precondition(lambda self: bool(self.roots))
        @rule(index=st.integers(0, 10**6), aim=st.booleans())
        def repay(self, index: int, aim: bool) -> None:
            roots = sorted(self.roots.values(), key=lambda r: r.id)
            unpaid = [r for r in roots if not r.repaid]
            root = pick(unpaid if aim and unpaid else roots, index)
            error = "CertificateRootAlreadyRepaid" if root.repaid else None
            if outcome(
                error,
                lambda gas: maturity_contract.transact(
                    root.issuer.signer, "repay", root.id, gas=gas
                ),
            ):
                root.repaid = True
                self.balances[root.issuer.address] -= root.face
                self.balances[maturity_contract.address] += root.face

        @precondition(lambda self: bool(self.certs))
        @rule(index=st.integers(0, 10**6), aim=st.booleans())
        def redeem(self, index: int, aim: bool) -> None:
            certs = sorted(self.certs.values(), key=lambda c: c.id)
            redeemable = [c for c in certs if self.redeemable(c)]
            cert = pick(redeemable if aim and redeemable else certs, index)
            root = self.roots[cert.root]
            error: str | None = None
            if not root.repaid:
                error = "CertificateRootNotRepaid"
            elif not self.matured(root.id):
                error = "CertificateNotMatured"
            elif cert.locked:
                error = "CertificateLocked"
            elif cert.value == 0:
                error = "CertificateNothingToRedeem"
            if outcome(
                error,
                lambda gas: maturity_contract.transact(
                    cert.holder.signer, "redeem", cert.id, gas=gas
                ),
            ):
                root.redeemed += cert.value
                self.balances[maturity_contract.address] -= cert.value
                self.balances[cert.holder.address] += cert.value
                cert.value = 0

        def redeemable(self, cert: ModelCertificate) -> bool:
            root = self.roots[cert.root]
            return root.repaid and self.matured(root.id) and cert.value > 0 and cert.locked == 0

        # ---- settlement tokens ------------------------------------------------------------

        @rule(to=st.integers(0, 6), amount=st.integers(1, 10**9))
        def mint_tokens(self, to: int, amount: int) -> None:
            member = everyone[to]
            token.transact(
                world.bank2.signer, "mint", member.address, amount, doc_hash("deposit"), gas=GAS
            )
            self.balances[member.address] += amount
            self.supply += amount

        @rule(amount=st.integers(1, 10**9))
        def burn_tokens(self, amount: int) -> None:
            token.transact(world.bank.signer, "burn", amount, doc_hash("withdrawal"), gas=GAS)
            self.balances[world.bank.address] -= amount
            self.supply -= amount

        # ---- invariants -------------------------------------------------------------------

        @invariant()
        def chain_matches_the_model(self) -> None:
            live: dict[int, int] = {root_id: 0 for root_id in self.roots}
            escrow: dict[int, int] = {cert_id: 0 for cert_id in self.certs}
            for request in self.requests.values():
                if request.pending:
                    escrow[request.certificate] += request.amount
            for cert in self.certs.values():
                view = certificates.call("getCertificate", cert.id)
                holder, value, locked, maturity, created_at = (
                    view[4],
                    view[5],
                    view[6],
                    view[8],
                    view[9],
                )
                assert (holder, value, locked) == (cert.holder.id, cert.value, cert.locked)
                assert locked <= value, "escrowed value moved"
                assert locked == escrow[cert.id]
                assert created_at < maturity, "value moved at or after maturity"
                live[cert.root] += value
            for root in self.roots.values():
                redeemed = certificates.call("getRoot", root.id)[4]
                assert redeemed == root.redeemed
                assert live[root.id] + redeemed == root.face, "value not conserved"

        @invariant()
        def tokens_are_conserved(self) -> None:
            supply = token.call("totalSupply")
            assert supply == self.supply
            assert supply == token.call("totalMinted") - token.call("totalBurned")
            for address, expected in self.balances.items():
                assert token.call("balanceOf", address) == expected
            owed = sum(r.face - r.redeemed for r in self.roots.values() if r.repaid)
            assert self.balances[maturity_contract.address] == owed

        @invariant()
        def invoices_are_assigned_once(self) -> None:
            assert len(set(self.invoices.values())) == len(self.invoices)
            for key, cert_id in self.invoices.items():
                invoice = consortium.invoices.call("getInvoice", key)
                assert (invoice[7], invoice[8]) == (InvoiceStatus.ASSIGNED, cert_id)

    return ScfMachine


def test_random_business_keeps_every_invariant(world: World) -> None:
    run_state_machine_as_test(
        machine_for(world),
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
