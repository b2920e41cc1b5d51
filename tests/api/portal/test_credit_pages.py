"""The credit page: a core enterprise's credit lines and repayment calendar, a
financier's lines granted and portfolio by core enterprise — what the REST API says,
for each role, and nothing of it for a supplier."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import create_user, signed_in
from tests.helpers import DAY, grant_line, issue_certificate, mint, split


@pytest.fixture(scope="module")
def story(api_world: ApiWorld) -> dict[str, int]:
    """Core draws 300,000.00 and 200,000.00 on a line of 1,000,000.00 from the bank (roots
    to tier 1 maturing in 20 and 60 days) and 50,000.00 on one of bank 2; tier 1 sells
    70,000.00 of the first to the bank."""
    w = api_world.world
    line = grant_line(w, w.bank, w.core, 1_000_000_00)
    soon = issue_certificate(w, w.core, w.tier1, 300_000_00, maturity_in=20 * DAY, line_id=line)
    later = issue_certificate(w, w.core, w.tier1, 200_000_00, maturity_in=60 * DAY, line_id=line)
    other = grant_line(w, w.bank2, w.core, 80_000_00)
    issue_certificate(w, w.core, w.tier2, 50_000_00, maturity_in=90 * DAY, line_id=other)
    sold = split(w, w.tier1, soon, w.bank, 70_000_00)
    mint(w, w.bank, w.core, 100_000_00)
    api_world.sync()
    return {"line": line, "soon": soon, "later": later, "other": other, "sold": sold}


def _page(api_world: ApiWorld, member: str) -> str:
    client: TestClient = signed_in(api_world, create_user(api_world, member, "viewer"))
    page = client.get("/portal/credit")
    assert page.status_code == 200, page.text
    return str(page.text)


def _row(text: str, marker: str) -> str:
    return text.split(marker)[1].split("</tr>")[0]


def test_a_core_enterprise_sees_its_lines_and_what_falls_due(
    api_world: ApiWorld, story: dict[str, int]
) -> None:
    text = _page(api_world, "core")
    line = _row(text, f'data-line="{story["line"]}"')
    assert "First Bank" in line
    assert "1000000.00" in line
    assert ">500000.00<" in line  # used: the two roots
    assert "Second Factoring Co" in _row(text, f'data-line="{story["other"]}"')
    calendar = text.split('id="calendar"')[1].split("</section>")[0]
    assert calendar.index(f'data-root="{story["soon"]}"') < calendar.index(
        f'data-root="{story["later"]}"'
    )  # by maturity
    assert "300000.00" in _row(calendar, f'data-root="{story["soon"]}"')
    assert 'id="due-soon">300000.00<' in calendar  # within 30 days
    assert 'id="calendar-balance">100000.00<' in calendar
    assert 'id="short">200000.00<' in calendar
    assert 'id="due-total">550000.00<' in calendar


def test_a_repaid_root_leaves_the_calendar(api_world: ApiWorld, story: dict[str, int]) -> None:
    w = api_world.world
    mint(w, w.bank, w.core, 200_000_00)
    api_world.sync()
    repaid = api_world.client.post(
        "/v1/repayments", json={"root_id": story["soon"]}, headers=api_world.auth("core")
    )
    assert repaid.status_code == 201, repaid.text
    calendar = _page(api_world, "core").split('id="calendar"')[1].split("</section>")[0]
    assert f'data-root="{story["soon"]}"' not in calendar
    assert f'data-root="{story["later"]}"' in calendar
    assert 'id="due-total">250000.00<' in calendar


def test_a_financier_sees_its_lines_and_its_portfolio_by_core_enterprise(
    api_world: ApiWorld, story: dict[str, int]
) -> None:
    text = _page(api_world, "bank")
    assert "Core Motors Group" in _row(text, f'data-line="{story["line"]}"')
    assert f'data-line="{story["other"]}"' not in text  # bank 2's line
    core = _row(text, f'data-core="{api_world.world.core.id}"')
    assert ">70000.00<" in core  # held of core's paper
    assert ">1000000.00<" in core  # the open credit it granted core
    assert 'id="calendar"' not in text  # no repayment calendar: it issues nothing


def test_a_supplier_has_no_credit_lines(api_world: ApiWorld, story: dict[str, int]) -> None:
    text = _page(api_world, "tier1")
    assert "your member has none" in text
    assert "data-line=" not in text
