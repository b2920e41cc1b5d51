"""The consortium explorer: blocks, transactions decoded, nodes, search — for the
consortium's administrators (governors) and auditors, as the committee's work is."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.deps import CurrentMember, ServicesDep, SessionDep, WritesUnavailable
from api.errors import ErrorResponse
from api.routes.governance import CommitteeDep
from api.schemas.common import CanonicalInt, Hash32, Offset
from api.schemas.explorer import (
    BlockDetail,
    BlockList,
    BlockPublic,
    NodeList,
    NodePublic,
    SearchAnswer,
    SearchMatchPublic,
    TransactionPublic,
)
from api.services.explorer import (
    MAX_BLOCKS_PER_PAGE,
    MAX_TRANSACTIONS_PER_BLOCK_PAGE,
    BlockSummary,
    DecodedTransaction,
    Explorer,
)
from api.wire import utc_datetime

router = APIRouter(
    prefix="/v1/explorer",
    tags=["explorer"],
    responses={
        401: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
    },
)


async def get_explorer(services: ServicesDep) -> Explorer:
    if services.explorer is None:
        raise WritesUnavailable("this API node knows no consortium deployment")
    return services.explorer


ExplorerDep = Annotated[Explorer, Depends(get_explorer)]


def require_reader(member: CurrentMember, session: SessionDep, committee: CommitteeDep) -> None:
    """Governors and auditors; every other member is refused (403 ``not_a_governor``)."""
    committee.require_reader(session, member)


Reader = Annotated[None, Depends(require_reader)]
BlockNumber = Annotated[int, CanonicalInt, Path(ge=0, le=2**63 - 1)]


def _block(block: BlockSummary) -> BlockPublic:
    return BlockPublic(**(asdict(block) | {"timestamp": utc_datetime(block.timestamp)}))


def _transaction(tx: DecodedTransaction) -> TransactionPublic:
    return TransactionPublic.model_validate(asdict(tx))


@router.get("/blocks", response_model=BlockList)
def list_blocks(
    reader: Reader,
    explorer: ExplorerDep,
    before: Annotated[int | None, CanonicalInt, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=MAX_BLOCKS_PER_PAGE)] = 20,
) -> BlockList:
    """The newest blocks (or those below ``before``), newest first."""
    head = explorer.head()
    return BlockList(head=head, items=[_block(b) for b in explorer.blocks(before, limit)])


@router.get("/blocks/{number}", response_model=BlockDetail)
def read_block(
    number: BlockNumber,
    reader: Reader,
    session: SessionDep,
    explorer: ExplorerDep,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=MAX_TRANSACTIONS_PER_BLOCK_PAGE)] = 50,
    offset: Offset = 0,
) -> BlockDetail:
    """A block and a page of its transactions, each decoded."""
    block = _block(explorer.block(number))
    transactions = explorer.block_transactions(session, number, limit, offset)
    return BlockDetail(
        **block.model_dump(),
        transactions=[_transaction(t) for t in transactions],
        limit=limit,
        offset=offset,
    )


@router.get("/transactions/{tx_hash}", response_model=TransactionPublic)
def read_transaction(
    tx_hash: Annotated[Hash32, Path()],
    reader: Reader,
    session: SessionDep,
    explorer: ExplorerDep,
) -> TransactionPublic:
    """A transaction: who sent it, the consortium contract and function it called with
    its arguments, whether it succeeded, and the events it emitted."""
    return _transaction(explorer.transaction(session, bytes.fromhex(tx_hash[2:])))


@router.get("/nodes", response_model=NodeList)
def list_nodes(reader: Reader, explorer: ExplorerDep) -> NodeList:
    """The ledger nodes the committee allowed (and removed)."""
    return NodeList(
        items=[
            NodePublic(**(node | {"added_at": utc_datetime(node["added_at"])}))
            for node in explorer.nodes()
        ]
    )


@router.get("/search", response_model=SearchAnswer)
def search(
    reader: Reader,
    session: SessionDep,
    explorer: ExplorerDep,
    q: Annotated[str, Query(min_length=1, max_length=80)],
) -> SearchAnswer:
    """What ``q`` names: a transaction or block hash, a block number or member id, or a
    member's unified social credit code (compared by its hash, as the ledger keeps it)."""
    matches = explorer.search(session, q)
    return SearchAnswer(
        query=q,
        matches=[SearchMatchPublic(kind=m.kind, ref=m.ref) for m in matches],
    )
