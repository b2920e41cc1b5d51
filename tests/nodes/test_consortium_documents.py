"""Private documents between institutions, as real processes (issue 24): three etcd
members, a founder, a bank and a suppliers' institution (and a learner), each ``scf-node
start`` serving its document endpoint with its consortium node certificate. A document
the core enterprise (at the founder) shares with a supplier at the bank's node is read
through the bank's node; a supplier at the third institution gets it from no node; a
document sent while the bank's node is down arrives once it is back."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nodes.runtime.ports import free_ports
from tests.nodes import consortium_cluster
from tests.nodes.consortium_cluster import Cluster, Institution, Member, wait_for

DELIVERY_WAIT = 120.0  # home published (every few seconds) and a backoff of at most 30 s


def _with_document_endpoint(start: Any) -> Any:
    """``Institution.start`` that first names the home's document endpoint in node.json."""

    def start_serving_documents(node: Institution) -> None:
        settings_file = node.home / "node.json"
        settings = json.loads(settings_file.read_text("utf-8"))
        if "documents" not in settings["consortium"]:
            (port,) = free_ports(1)
            settings["consortium"]["documents"] = {"listen": f"127.0.0.1:{port}"}
            settings_file.write_text(json.dumps(settings, indent=2), "utf-8")
        start(node)

    return start_serving_documents


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            consortium_cluster.Institution,
            "start",
            _with_document_endpoint(consortium_cluster.Institution.start),
        )
        built = Cluster(tmp_path_factory.mktemp("consortium-documents"))
        try:
            yield built
        finally:
            built.stop()


def _upload(member: Member, content: bytes, party_ids: list[int]) -> str:
    body = {
        "filename": "agreement.txt",
        "content_type": "text/plain",
        "content": base64.b64encode(content).decode(),
        "party_ids": party_ids,
    }
    stored = member.post("/v1/documents", body)
    assert stored.status_code == 201, stored.text
    digest: str = stored.json()["hash"]
    return digest


def _read_when_there(member: Member, digest: str) -> httpx.Response:
    def read() -> httpx.Response | None:
        answer = member.get(f"/v1/documents/{digest}")
        return answer if answer.status_code == 200 else None

    found: httpx.Response = wait_for(
        read, f"document {digest} at {member.home.name}", DELIVERY_WAIT
    )
    return found


def test_a_document_reaches_the_party_at_its_own_institution_only(cluster: Cluster) -> None:
    founder, bank, suppliers = cluster.validators
    core = cluster.admit(founder, "CORE_ENTERPRISE")
    supplier = cluster.admit(bank, "SUPPLIER")
    outsider = cluster.admit(suppliers, "SUPPLIER")

    content = b"supply agreement: Core (founder's node) and a supplier at the bank's node"
    digest = _upload(core, content, [supplier.id])
    answer = _read_when_there(supplier, digest)
    assert answer.content == content
    assert answer.headers["X-Document-Hash"] == digest
    verified = supplier.get(f"/v1/documents/{digest}/verify").json()
    assert verified["intact"] is True

    # the supplier at the third institution: from its own node, and with keys at the others
    for node in cluster.nodes:
        reader = outsider if node is suppliers else cluster.member(outsider.id, node)
        assert reader.get(f"/v1/documents/{digest}").status_code == 404

    # sent while the bank's node is down: there once it is back
    bank.stop()
    later = b"amendment 1, sent while the bank's node was down"
    second = _upload(core, later, [supplier.id])
    bank.start()
    assert _read_when_there(supplier, second).content == later
