"""The PKI of a node home: made by ``scf-node init``; added by ``scf-node start`` to a home
made before the PKI existed (then the operator's certificate goes on chain by proposal)."""

from __future__ import annotations

import dataclasses
import logging

from chain.accounts import Signer
from chain.credit_code import credit_code_hash
from chain.deploy import Consortium, MemberSpec
from chain.governance import pass_proposal
from chain.scf import get_member
from nodes.home import NodeHome
from nodes.pki.ca import NO_FINGERPRINT, NODE_HOSTS, ConsortiumCA

log = logging.getLogger(__name__)

_ANY_ADDRESS = ("0.0.0.0", "::", "")


def consortium_name(chain_id: int) -> str:
    return f"SCF Chain Consortium {chain_id}"


def node_hosts(listen_host: str) -> tuple[str, ...]:
    """Names the node certificate must cover when the API listens on ``listen_host``."""
    if listen_host in _ANY_ADDRESS or listen_host in NODE_HOSTS:
        return NODE_HOSTS
    return (*NODE_HOSTS, listen_host)


def institution_ca_name(chain_id: int, institution: str) -> str:
    """The name of a consortium institution's own CA (its API and its members' clients),
    never the consortium CA's (``consortium_name``), which certifies nodes."""
    return f"{institution} of SCF Chain Consortium {chain_id}"


def create_home_pki(
    home: NodeHome,
    passphrase: str,
    chain_id: int,
    operator: MemberSpec,
    ca_name: str | None = None,
) -> MemberSpec:
    """The root CA (named ``ca_name``; a single node's: the consortium's name), the node
    certificate and the operator's member certificate; returns ``operator`` carrying
    that certificate's fingerprint, for the deployment to admit."""
    ca = ConsortiumCA.create(home.pki_dir, passphrase, ca_name or consortium_name(chain_id))
    ca.issue_node_certificate()
    issued = ca.issue_member_certificate(operator.name, operator.credit_code, operator.account)
    return dataclasses.replace(operator, certificate_fingerprint=issued.fingerprint)


def ensure_home_pki(
    home: NodeHome,
    passphrase: str,
    chain_id: int,
    consortium: Consortium,
    governor: Signer,
    operator_credit_code: str,
    listen_host: str = "127.0.0.1",
) -> tuple[ConsortiumCA, str | None]:
    """Open the home's CA, or create it (with the operator's certificate) for an older home;
    keep the node certificate fresh. Returns the CA and a note for the operator, if any."""
    note = None
    if ConsortiumCA.exists(home.pki_dir):
        ca = ConsortiumCA.open(home.pki_dir, passphrase)
    else:
        ca = ConsortiumCA.create(home.pki_dir, passphrase, consortium_name(chain_id))
        note = _certify_operator(ca, consortium, governor, operator_credit_code)
    ca.ensure_node_certificate(node_hosts(listen_host))
    return ca, note


def _certify_operator(
    ca: ConsortiumCA, consortium: Consortium, governor: Signer, credit_code: str
) -> str:
    """Issue the operator member's certificate and record its fingerprint on chain."""
    members = consortium.members
    member_id = int(members.call("memberOf", governor.address))
    if member_id == 0:
        return f"the governor {governor.address} is no member: no operator certificate issued"
    member = get_member(consortium, member_id)
    name, code_hash = member.name, bytes(member.credit_code_hash)
    fingerprint = bytes(member.certificate_fingerprint)
    if fingerprint != NO_FINGERPRINT:
        return f"member {member_id} already has a certificate fingerprint on chain; kept it"
    if credit_code_hash(credit_code) != code_hash:
        return f"member {member_id}'s credit code is not the operator's; no certificate issued"
    issued = ca.issue_member_certificate(name, credit_code, governor.address)
    try:
        pass_proposal(
            consortium.governance,
            governor,
            [(members, "setCertificateFingerprint", (member_id, issued.fingerprint))],
            f"Record the certificate of member {member_id} ({name})",
        )
    except RuntimeError as exc:  # a committee must vote: the proposal stays open
        log.warning("operator certificate proposal not executed: %s", exc)
        return (
            f"issued the operator's certificate {issued.fingerprint.hex()}; the proposal "
            "recording it on chain awaits the committee's votes"
        )
    return (
        f"created the consortium CA and member {member_id}'s certificate {issued.fingerprint.hex()}"
    )
