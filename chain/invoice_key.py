"""The uniqueness key of an invoice, as InvoiceRegistry derives it.

An invoice is identified by (its seller, invoice code 发票代码, invoice number 发票号码). The
identity is taken exactly as written on the invoice, and only two shapes exist:

- a VAT invoice (增值税发票): a code of 10 or 12 digits and a number of 8 digits;
- a fully digital e-invoice (数电发票): no code (empty) and a number of 20 digits.

Digits are the ASCII ``0``-``9``. Anything else (a space, a full-width digit, a 9-digit
number, a code on a 20-digit number ...) is refused with ``InvalidInvoiceIdentity`` naming
the rule: never "normalized" into some other key, because two spellings that are silently
folded into one key, or one invoice that can be spelled into two keys, is exactly what
lets an invoice be financed twice.

The key is ``keccak256(abi.encode(bytes32 sellerCreditCodeHash, string invoiceCode,
string invoiceNumber))`` where ``sellerCreditCodeHash`` is the seller's member record in
MemberRegistry (``chain.credit_code.credit_code_hash``). The contract derives it itself from
the calling member's record (``InvoiceRegistry.deriveInvoiceKey``), so a seller can only
register its own invoices; this module computes the same key off chain, to look an invoice up
and to refuse bad input before anything is signed. ABI encoding keeps the parts apart: a
12-digit code with an 8-digit number and a 20-digit number without code never collide.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from chain.errors import ScfError

VAT_CODE_LENGTHS = (10, 12)
VAT_NUMBER_LENGTH = 8
DIGITAL_NUMBER_LENGTH = 20
RULE = (
    "an invoice is either a VAT invoice (invoice_code of 10 or 12 digits and invoice_number "
    "of 8 digits) or a fully digital e-invoice, 数电发票 (no invoice_code and an "
    "invoice_number of 20 digits); digits are ASCII 0-9, nothing else is allowed"
)
_DIGITS = frozenset("0123456789")


class InvalidInvoiceIdentity(ScfError):
    """An invoice code and number that are not exactly one of the two canonical shapes."""

    code = "invalid_invoice_identity"


@dataclass(frozen=True)
class InvoiceIdentity:
    """A validated, canonical invoice identity of one seller, and its key."""

    seller_credit_code_hash: bytes
    invoice_code: str
    invoice_number: str

    @property
    def kind(self) -> str:
        """``"vat"`` or ``"digital"`` (数电发票)."""
        return "vat" if self.invoice_code else "digital"

    @property
    def key(self) -> bytes:
        encoded = abi_encode(
            ["bytes32", "string", "string"],
            [self.seller_credit_code_hash, self.invoice_code, self.invoice_number],
        )
        return keccak(encoded)


def _digits(text: str) -> bool:
    return all(ch in _DIGITS for ch in text)


def identity_problem(invoice_code: str, invoice_number: str) -> str | None:
    """What is wrong with (code, number), in words; None when it is canonical."""
    if not _digits(invoice_code):
        return "the invoice_code may contain only the digits 0-9"
    if not _digits(invoice_number):
        return "the invoice_number may contain only the digits 0-9"
    if not invoice_code:
        if len(invoice_number) != DIGITAL_NUMBER_LENGTH:
            return (
                "without an invoice_code the invoice is a fully digital e-invoice, whose "
                f"invoice_number has {DIGITAL_NUMBER_LENGTH} digits, not {len(invoice_number)}"
            )
        return None
    if len(invoice_code) not in VAT_CODE_LENGTHS:
        return f"a VAT invoice_code has 10 or 12 digits, not {len(invoice_code)}"
    if len(invoice_number) != VAT_NUMBER_LENGTH:
        return f"a VAT invoice_number has {VAT_NUMBER_LENGTH} digits, not {len(invoice_number)}"
    return None


def canonical_invoice(
    seller_credit_code_hash: bytes, invoice_code: str, invoice_number: str
) -> InvoiceIdentity:
    """The identity, or ``InvalidInvoiceIdentity`` saying which rule the input breaks."""
    problem = identity_problem(invoice_code, invoice_number)
    if problem is not None:
        raise InvalidInvoiceIdentity(
            f"{problem}: {RULE}",
            details={
                "rule": RULE,
                "problem": problem,
                "invoice_code": invoice_code,
                "invoice_number": invoice_number,
            },
        )
    if len(seller_credit_code_hash) != 32:
        raise ValueError("a credit-code hash is 32 bytes")
    return InvoiceIdentity(bytes(seller_credit_code_hash), invoice_code, invoice_number)


def invoice_key(seller_credit_code_hash: bytes, invoice_code: str, invoice_number: str) -> bytes:
    """The 32-byte key InvoiceRegistry derives for this invoice of this seller."""
    return canonical_invoice(seller_credit_code_hash, invoice_code, invoice_number).key
