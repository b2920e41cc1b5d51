"""`scf-node demo` as a real process: the whole story on a fresh development node.

The demo checks every figure itself and exits non-zero on any difference, so this
test is the project's end-to-end smoke test of a node: CLI, ledger, REST API,
onboarding through votes, and the finance flow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from nodes.runtime.dev_node import dev_node

# a row of the portal users' table: the e-mail, then the one-time invitation code
SIGN_IN = re.compile(r"([a-z0-9]+\.[0-9]{8}@demo\.example)\W+([A-Za-z0-9_-]{32})")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PRE_SESSION = "scf_portal_pre"


@dataclass(frozen=True)
class DemoRun:
    home: Path
    output: str
    returncode: int


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    # in a directory that does not exist yet: the demo makes it (it once crashed writing its
    # node's log beside the home)
    home = tmp_path_factory.mktemp("demo") / "new" / "demo-home"
    result = subprocess.run(
        [sys.executable, "-m", "nodes", "demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "160", "SCF_PASSPHRASE": ""},
    )
    return DemoRun(home, result.stdout + result.stderr, result.returncode)


def test_demo_tells_the_whole_story_and_every_figure_matches(demo_run: DemoRun) -> None:
    output = demo_run.output
    assert demo_run.returncode == 0, output
    for landmark in (
        "committee votes them in",
        "InvoiceAlreadyRegistered",
        "invalid_invoice_identity",  # invoice 1 spelled another way: no second key
        "FinancingRateAboveAccepted",  # the bank cannot pay less than tier 3 accepted
        "Tier 3 sold 300000.00",
        "every figure matched",
    ):
        assert landmark in output, output
    assert (demo_run.home / "node.json").exists()  # the demo ran on a real node home


def test_demo_prints_the_portal_and_a_first_sign_in_for_each_company(demo_run: DemoRun) -> None:
    output = demo_run.output
    assert demo_run.returncode == 0, output
    assert re.search(r"Member portal: http://localhost:[0-9]+/portal/", output), output
    companies = {email.split(".")[0] for email, _code in SIGN_IN.findall(output)}
    assert companies == {"maker", "tier1", "tier2", "tier3", "bank"}, output
    assert f"scf-node start --dev --home {demo_run.home}" in output


def test_a_printed_sign_in_works_on_the_node_started_again(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    """What the demo printed is real: on its home started again, tier 1's user sets a
    password with its invitation code and signs in to its holdings."""
    assert demo_run.returncode == 0, demo_run.output
    sign_ins = dict(SIGN_IN.findall(demo_run.output))
    email = next(e for e in sign_ins if e.startswith("tier1."))
    # the portal's cookies are Secure: sent by hand over plain HTTP (a browser keeps them
    # from http://localhost, Python's cookie jar from nowhere but HTTPS)
    with (
        dev_node(demo_run.home, tmp_path / "node.log") as node,
        httpx.Client(base_url=node.api_url, timeout=30) as http,
    ):
        password = "demo password 1"
        form = _form(http, "/portal/welcome")
        accepted = _post(
            http,
            "/portal/welcome",
            form,
            email=email,
            invitation_code=sign_ins[email],
            password=password,
            password_again=password,
        )
        assert accepted.status_code == 303, accepted.text
        form = _form(http, "/portal/sign-in")
        signed_in = _post(http, "/portal/sign-in", form, email=email, password=password, code="")
        assert signed_in.status_code == 303, signed_in.text
        session = signed_in.cookies["scf_portal_session"]
        holdings = http.get("/portal/holdings", headers={"Cookie": f"scf_portal_session={session}"})
        assert holdings.status_code == 200
        assert "Ningbo Cold-Chain Compressor Co., Ltd." in holdings.text


def _form(http: httpx.Client, path: str) -> tuple[str, str]:
    """The form's CSRF token and its pre-session cookie."""
    page = http.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1), page.cookies[PRE_SESSION]


def _post(http: httpx.Client, path: str, form: tuple[str, str], **fields: str) -> httpx.Response:
    token, cookie = form
    return http.post(
        path,
        data={**fields, "csrf_token": token},
        headers={"Cookie": f"{PRE_SESSION}={cookie}"},
    )


def test_demo_fails_loudly_on_a_node_it_cannot_reach(tmp_path: Path) -> None:
    home = tmp_path / "no-node"
    home.mkdir()
    (home / "operator-api-key").write_text("scf_not_a_key\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nodes",
            "demo",
            "--home",
            str(home),
            "--api-url",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert result.returncode == 1
    assert "Demo FAILED" in result.stdout
