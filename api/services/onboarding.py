"""Joining the consortium through the API: an application becomes an admission proposal.

An applicant sends its name, credit code and roles. The node creates its signing key in
the custodial keystore, asks the CA (when the node has one) for its certificate, and
proposes ``MemberRegistry.admitMember`` to the committee with a governor account the node
holds. The application's API key is stored only as a hash; ``api_keys.authenticate``
turns it into a member key once the member exists on chain.

The proposer's vote counts For as soon as it proposes (``_castProposerVote``). So when the
node's governor could carry the proposal alone (admin mode: one governor, or a dominant
weight), an anonymous request would admit itself. The node then does not propose: the
application waits until a governor sponsors it (``sponsor``) — a deliberate act by a
committee member, as a demanding committee expects. Otherwise the proposal is created at
once and the node operator's For vote stands for "the application is complete and its
credit code valid"; the other governors still decide.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.types import TxReceipt

from api.deps import Write
from api.readmodel.models import ApplicationRow, MemberAccountRow, MemberRow
from api.services.api_keys import KEY_PREFIX, hash_key
from api.services.custody import NoCustodialKey
from api.services.pki_protocol import CertificateAuthority
from api.services.visibility import NotFound
from api.services.writer import LedgerWriter
from api.wire import hex0x
from chain.credit_code import validate_credit_code
from chain.deploy import Consortium
from chain.errors import ScfError
from chain.governance import ProposalState, proposal_state
from chain.roles import Role

ROLE_BITS = {Role.CORE_ENTERPRISE: 1, Role.SUPPLIER: 2, Role.FINANCIER: 4, Role.AUDITOR: 8}
NO_FINGERPRINT = b"\0" * 32
_ENDED = (ProposalState.REJECTED, ProposalState.EXPIRED, ProposalState.REVOKED)

# The duplicate check and the insert must not interleave between two requests of the same
# company; applications are rare and rate-limited, so one lock per process is enough.
_applying = threading.Lock()


class MemberAlreadyRegistered(ScfError):
    code = "member_already_registered"
    http_status = 409


class ApplicationAlreadyPending(ScfError):
    code = "application_already_pending"
    http_status = 409


class ApplicationNotAwaitingSponsor(ScfError):
    code = "application_not_awaiting_sponsor"
    http_status = 409


@dataclass(frozen=True)
class Submitted:
    application: ApplicationRow
    api_key: str  # the secret, returned once
    certificate_pem: str | None
    proposal_state: ProposalState | None


def role_mask(roles: Sequence[str]) -> int:
    mask = 0
    for name in roles:
        mask |= ROLE_BITS[Role(name)]
    return mask


def roles_of(mask: int) -> list[Role]:
    return [role for role, bit in ROLE_BITS.items() if mask & bit]


class Onboarding:
    def __init__(
        self,
        consortium: Consortium,
        writer: LedgerWriter,
        certificate_authority: CertificateAuthority | None = None,
    ) -> None:
        self._consortium = consortium
        self._writer = writer
        self._ca = certificate_authority

    # ---- applying ----------------------------------------------------------------------

    def apply(
        self,
        session: Session,
        *,
        name: str,
        credit_code: str,
        roles: Sequence[str],
        contact: str,
        client_address: str,
    ) -> Submitted:
        """Record an application and, unless the node's governor would carry it alone,
        propose the admission. Raises ``InvalidCreditCode`` (422) or a 409 duplicate."""
        code = validate_credit_code(credit_code)
        code_hash = keccak(text=code)
        mask = role_mask(roles)
        with _applying:
            self._refuse_duplicate(session, code, code_hash)
            signer = self._writer.custody.create_account()
            fingerprint, pem = NO_FINGERPRINT, None
            if self._ca is not None:
                issued = self._ca.issue_member_certificate(name, code, signer.address)
                fingerprint, pem = issued.fingerprint, issued.pem.decode("ascii")
            api_key = KEY_PREFIX + secrets.token_urlsafe(32)
            admit_args = (name, code_hash, [r.id for r in roles_of(mask)], signer.address)
            proposal_id = self._propose_if_not_alone(
                session, (*admit_args, fingerprint), f"Admit {name} ({code})", signer.address
            )
            # inserted only now: SQLite allows one writer, and the indexer writes while the
            # proposal is sent
            row = ApplicationRow(
                name=name,
                credit_code=code,
                credit_code_hash=hex0x(code_hash),
                roles=mask,
                contact=contact,
                account=signer.address,
                certificate_fingerprint=None if pem is None else hex0x(fingerprint),
                proposal_id=proposal_id,
                api_key_hash=hash_key(api_key),
                status="pending",
                client_address=client_address,
                created_at=int(time.time()),
            )
            session.add(row)
            session.commit()
        state = self.refresh(session, row)
        return Submitted(row, api_key, pem, state)

    def _refuse_duplicate(self, session: Session, code: str, code_hash: bytes) -> None:
        # The applicant is anonymous: it learns that the code is taken, not by whom
        if self._consortium.members.call("memberIdByCreditCode", code_hash):
            raise MemberAlreadyRegistered(f"credit code {code} belongs to a member already")
        pending = session.scalar(
            select(ApplicationRow.id).where(
                ApplicationRow.credit_code_hash == hex0x(code_hash),
                ApplicationRow.status == "pending",
            )
        )
        if pending is not None:
            raise ApplicationAlreadyPending(
                f"an application for credit code {code} is pending already"
            )

    def _propose_if_not_alone(
        self, session: Session, admit_args: tuple[Any, ...], description: str, account: str
    ) -> int | None:
        proposer = self._node_governor(session)
        if proposer is None:
            return None
        member, weight = proposer
        governance = self._consortium.governance
        total = int(governance.call("totalWeight"))
        if weight * 100 >= int(governance.call("participationPercent")) * total:
            return None  # its vote alone would admit: wait for a governor's sponsorship
        proposal_id, _ = self._propose(session, member, admit_args, description, account)
        return proposal_id

    def _node_governor(self, session: Session) -> tuple[MemberRow, int] | None:
        """A member whose account this node signs with is a governor: (member, weight)."""
        governance = self._consortium.governance
        for address in governance.call("governors"):
            row = session.get(MemberAccountRow, address)
            member = None if row is None else session.get(MemberRow, row.member_id)
            if member is None or member.status != "active":
                continue
            try:
                signing = self._writer.account_of(session, member.id)
            except NoCustodialKey:
                continue
            if signing.lower() == str(address).lower():
                return member, int(governance.call("weightOf", address))
        return None

    def _propose(
        self,
        session: Session,
        proposer: MemberRow,
        admit_args: tuple[Any, ...],
        description: str,
        account: str,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[int, TxReceipt]:
        members, governance = self._consortium.members, self._consortium.governance
        receipt = self._writer.write(
            session,
            proposer,
            governance,
            "propose",
            [members.address],
            [members.encode("admitMember", *admit_args)],
            description,
            idempotency_key=idempotency_key or f"application:{account}",
        )
        return int(governance.event_args(receipt, "ProposalCreated")["proposalId"]), receipt

    # ---- sponsoring --------------------------------------------------------------------

    def sponsor(self, write: Write, application_id: int, description: str) -> TxReceipt:
        """A governor proposes the admission of an application that waits for a sponsor."""
        row = write.session.get(ApplicationRow, application_id)
        if row is None:
            raise NotFound("application", application_id)
        if row.status != "pending" or row.proposal_id is not None:
            raise ApplicationNotAwaitingSponsor(
                f"application {application_id} is {row.status}"
                + (f" under proposal {row.proposal_id}" if row.proposal_id else ""),
                details={"status": row.status, "proposal_id": row.proposal_id},
            )
        admit_args = (
            row.name,
            bytes.fromhex(row.credit_code_hash.removeprefix("0x")),
            [r.id for r in roles_of(row.roles)],
            row.account,
            bytes.fromhex((row.certificate_fingerprint or hex0x(NO_FINGERPRINT))[2:]),
        )
        key = f"sponsor:{write.idempotency_key}" if write.idempotency_key else None
        proposal_id, receipt = self._propose(
            write.session,
            write.member,
            admit_args,
            description or f"Admit {row.name} ({row.credit_code}), application {row.id}",
            row.account,
            idempotency_key=key or f"application:{row.account}:sponsor",
        )
        row.proposal_id = proposal_id
        write.session.commit()
        self.refresh(write.session, row)
        return receipt

    # ---- following the proposal --------------------------------------------------------

    def refresh(self, session: Session, row: ApplicationRow) -> ProposalState | None:
        """Bring a pending application's status up to date with the ledger; return the
        admission proposal's state (None without a proposal)."""
        governance = self._consortium.governance
        state = None if row.proposal_id is None else proposal_state(governance, row.proposal_id)
        if row.status != "pending":
            return state
        member_id = int(self._consortium.members.call("memberOf", row.account))
        if member_id:
            row.status, row.member_id = "admitted", member_id
        elif state in _ENDED:
            row.status = "rejected"
        else:
            return state
        session.commit()
        return state

    def refresh_for_proposal(self, session: Session, proposal_id: int) -> None:
        """After a vote, an execution or a revocation: the applications it decides."""
        rows = session.scalars(
            select(ApplicationRow).where(ApplicationRow.proposal_id == proposal_id)
        ).all()
        for row in rows:
            self.refresh(session, row)
