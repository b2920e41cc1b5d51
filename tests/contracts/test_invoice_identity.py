"""InvoiceRegistry.deriveInvoiceKey against chain/invoice_key.py on generated inputs: the
contract accepts exactly what the Python validator accepts, and derives the same key."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.deploy import Consortium
from chain.errors import ContractRevert
from chain.invoice_key import identity_problem, invoice_key
from tests.invoice_identities import any_text, canonical_identities, sellers


def _on_chain(consortium: Consortium, seller: bytes, code: str, number: str) -> bytes | None:
    """The contract's key, or None when it refuses the identity (with the error naming it)."""
    refused: ContractRevert | None = None
    try:
        key: bytes = consortium.invoices.call("deriveInvoiceKey", seller, code, number)
    except ContractRevert as error:
        refused = error
    if refused is None:
        return key
    assert (refused.error_name, refused.args_tuple) == ("InvoiceInvalidIdentity", (code, number))
    return None


def test_the_contract_and_python_agree_on_accepted_identities(consortium: Consortium) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(canonical_identities)
    def check(identity: tuple[bytes, str, str]) -> None:
        assert _on_chain(consortium, *identity) == invoice_key(*identity)

    check()


def test_the_contract_and_python_agree_on_what_is_refused(consortium: Consortium) -> None:
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(sellers, any_text, any_text)
    def check(seller: bytes, code: str, number: str) -> None:
        expected = None if identity_problem(code, number) else invoice_key(seller, code, number)
        assert _on_chain(consortium, seller, code, number) == expected

    check()


def test_accepted_identities_that_differ_never_share_a_key_on_chain(
    consortium: Consortium,
) -> None:
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.tuples(canonical_identities, canonical_identities))
    def check(pair: tuple[tuple[bytes, str, str], tuple[bytes, str, str]]) -> None:
        first, second = pair
        same = _on_chain(consortium, *first) == _on_chain(consortium, *second)
        assert same == (first == second)

    check()
