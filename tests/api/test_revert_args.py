"""Custom errors' arguments in the API's units: every contract error is covered."""

from __future__ import annotations

import pytest

from api import revert_args
from api.revert_args import present
from chain.artifacts import all_artifacts
from tests.api.times import iso_day, iso_instant

# Integer arguments that stay numbers: identifiers, counts, indexes, rates in basis points
# and percentages (the API takes them as numbers too). The import windows' figures
# (contracts/src/migration) are counts or sums in the unit of the contract: numbers.
PLAIN = frozenset(
    {
        "bits",
        "expected",
        "expectedCount",
        "expectedTotal",
        "importedCount",
        "importedTotal",
        "legacyFigure",
        "borrowerId",
        "buyerId",
        "count",
        "financierId",
        "governors",
        "holderId",
        "id",
        "index",
        "issuerId",
        "length",
        "lineId",
        "max",
        "maxRateBps",
        "maxTenorSeconds",
        "memberId",
        "participationPercent",
        "proposalId",
        "rateBps",
        "requestId",
        "requesterId",
        "rootId",
        "sellerId",
        "votingPeriod",
        "weight",
        "weights",
        "winPercent",
    }
)


def _integer_arguments() -> set[tuple[str, str]]:
    """(error, argument) for every integer or enum argument of every contract error."""
    found = set()
    for artifact in all_artifacts():
        for item in artifact.abi:
            if item["type"] != "error":
                continue
            for argument in item["inputs"]:
                kind = argument["type"]
                if kind.startswith(("uint", "int")) and not kind.endswith("]"):
                    found.add((item["name"], argument["name"]))
    return found


@pytest.mark.parametrize(("error", "argument"), sorted(_integer_arguments()))
def test_every_integer_argument_has_a_known_meaning(error: str, argument: str) -> None:
    """A new error argument must be classified: money, day, instant, state, or plain."""
    if argument in PLAIN:
        assert present(error, {argument: 7}) == {argument: 7}
        return
    shown = present(error, {argument: 1})[argument]
    assert shown != 1, f"{error}.{argument} is neither plain nor converted"


def test_amounts_are_decimal_strings() -> None:
    args = {"lineId": 3, "available": 100_000, "amount": 250_050}
    assert present("CreditLineInsufficientAvailable", args) == {
        "lineId": 3,
        "available": "1000.00",
        "amount": "2500.50",
    }


def test_days_and_instants_are_iso_8601_utc() -> None:
    midnight, instant = 1_798_761_600, 1_798_800_123  # 2027-01-01 and later that day
    assert present("CreditLineExpired", {"lineId": 1, "expiresAt": midnight}) == {
        "lineId": 1,
        "expiresAt": iso_day(midnight),  # a credit line expires on a day
    }
    assert present("FinancingRequestExpired", {"requestId": 2, "expiresAt": instant}) == {
        "requestId": 2,
        "expiresAt": iso_instant(instant),  # a financing request at an instant
    }
    assert present("CertificateMatured", {"id": 5, "maturity": midnight})["maturity"] == (
        "2027-01-01"
    )
    assert present("MaturityAlreadyOverdue", {"rootId": 5, "markedAt": instant})["markedAt"] == (
        "2027-01-01T10:42:03Z"
    )


def test_states_by_name_as_elsewhere_in_the_api() -> None:
    assert present("InvoiceInvalidStatus", {"key": "0x01", "status": 2})["status"] == "confirmed"
    assert present("FinancingInvalidStatus", {"requestId": 1, "status": 5})["status"] == "expired"
    assert present("CreditLineInvalidStatus", {"lineId": 1, "status": 2})["status"] == "closed"
    assert present("MemberInvalidStatus", {"memberId": 1, "status": 2})["status"] == "suspended"
    assert present("GovernanceProposalNotPending", {"state": 6})["state"] == "revoked"
    assert present("GovernanceAlreadyVoted", {"vote": 2})["vote"] == "against"
    assert present("InvoiceInvalidStatus", {"status": 99})["status"] == 99  # unknown: as is


def test_other_values_pass_through() -> None:
    args = {"account": "0xAbC", "key": "0x" + "00" * 32, "allowed": True, "field": "amount"}
    assert present("SomeError", args) == args
    assert revert_args.MONEY.isdisjoint(PLAIN)
