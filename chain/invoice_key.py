"""The uniqueness key of an invoice, as InvoiceRegistry stores it.

An invoice is identified by (seller's unified social credit code, invoice code, invoice
number). The same invoice typed by two people must give the same key, so each part is
normalized first:

1. Unicode NFKC: full-width characters fold to their ASCII forms (full-width ``A``
   U+FF21 -> ``A``, digit ``1`` U+FF11 -> ``1``, the ideographic space U+3000 -> a space);
2. every whitespace character (``str.isspace``: spaces, tabs, line breaks, no-break spaces)
   and every zero-width character (U+200B-U+200D, U+2060, U+FEFF) is removed, wherever it is;
3. upper-case (then NFKC once more, so that normalizing twice changes nothing).

Then: the seller credit code must be a valid GB 32100-2015 code (``chain.credit_code``); the
invoice number must not be empty; the invoice code may be empty (fully digital e-invoices
have none); both may contain only ASCII letters and digits.

The key is ``keccak256(abi.encode(string creditCode, string invoiceCode, string invoiceNumber))``
of the normalized parts; ABI encoding keeps the parts apart (``("AB", "C")`` and
``("A", "BC")`` give different keys), and Solidity can recompute it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from chain.credit_code import validate_credit_code
from chain.errors import ScfError

_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
_ALLOWED = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
MAX_FIELD_LENGTH = 64


class InvalidInvoiceField(ScfError):
    """An invoice code or number that cannot identify an invoice."""

    code = "invalid_invoice_field"
    http_status = 422


@dataclass(frozen=True)
class InvoiceIdentity:
    """The normalized parts of an invoice's identity, and its key."""

    seller_credit_code: str
    invoice_code: str
    invoice_number: str

    @property
    def key(self) -> bytes:
        encoded = abi_encode(
            ["string", "string", "string"],
            [self.seller_credit_code, self.invoice_code, self.invoice_number],
        )
        return keccak(encoded)


def normalize_field(raw: str) -> str:
    """NFKC, without whitespace and zero-width characters, upper-cased (rules 1-3 above)."""
    folded = unicodedata.normalize("NFKC", raw)
    kept = "".join(ch for ch in folded if not ch.isspace() and ch not in _ZERO_WIDTH)
    return unicodedata.normalize("NFKC", kept.upper())


def _checked(name: str, raw: str, *, required: bool) -> str:
    value = normalize_field(raw)
    if required and not value:
        raise InvalidInvoiceField(f"the {name} is empty", details={"field": name, "value": raw})
    if len(value) > MAX_FIELD_LENGTH:
        raise InvalidInvoiceField(
            f"the {name} has {len(value)} characters, at most {MAX_FIELD_LENGTH} are allowed",
            details={"field": name, "value": raw},
        )
    bad = sorted({ch for ch in value if ch not in _ALLOWED})
    if bad:
        raise InvalidInvoiceField(
            f"the {name} may contain only letters and digits, not {''.join(bad)!r}",
            details={"field": name, "value": raw, "invalid_characters": bad},
        )
    return value


def normalize_invoice(
    seller_credit_code: str, invoice_code: str, invoice_number: str
) -> InvoiceIdentity:
    """The normalized identity; ``InvalidCreditCode`` or ``InvalidInvoiceField`` if invalid."""
    return InvoiceIdentity(
        seller_credit_code=validate_credit_code(normalize_field(seller_credit_code)),
        invoice_code=_checked("invoice code", invoice_code, required=False),
        invoice_number=_checked("invoice number", invoice_number, required=True),
    )


def invoice_key(seller_credit_code: str, invoice_code: str, invoice_number: str) -> bytes:
    """The 32-byte key InvoiceRegistry uses for this invoice."""
    return normalize_invoice(seller_credit_code, invoice_code, invoice_number).key
