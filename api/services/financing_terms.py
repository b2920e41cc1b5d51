"""The seller's terms of a financing request: the quote before it, the check before approval.

A request carries the highest annual discount rate the requester accepts (``max_rate_bps``),
its deadline and the agreement's hash; FinancingHub refuses an approval at a worse rate or
under another agreement. For a given rate the price only rises as maturity nears, so the
quote a seller gets before asking is the least it is paid whenever the request is approved
at that rate. Quotes come from the contract's own pricing (``FinancingHub.quote`` and
``daysToMaturity``): the figure shown is the figure the ledger computes.
"""

from __future__ import annotations

from api.money import format_amount
from api.readmodel.models import FinancingRequestRow
from api.schemas.financing import FinancingQuote
from api.wire import bytes32, utc_datetime, utc_day
from chain.deploy import Consortium
from chain.errors import ContractRevert, ScfError

AMOUNT_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"


class QuoteNeedsMaturity(ScfError):
    code = "validation_error"
    http_status = 422


def quote(consortium: Consortium, amount: int, rate_bps: int, maturity: int) -> FinancingQuote:
    """The price of ``amount`` at ``rate_bps`` if approved at the latest block's time."""
    hub = consortium.financing
    at = int(consortium.ledger.get_block("latest")["timestamp"])
    days = int(hub.call("daysToMaturity", maturity, at))
    price, discount = hub.call("quote", amount, rate_bps, days)
    return FinancingQuote(
        amount=format_amount(amount),
        rate_bps=rate_bps,
        maturity=utc_day(maturity),
        quoted_at=utc_datetime(at),
        days=days,
        discount=format_amount(int(discount)),
        price=format_amount(int(price)),
    )


def require_terms(request: FinancingRequestRow, rate_bps: int, agreement_hash: str) -> None:
    """Refuse, as the ledger would, an approval outside the request's terms: checked before
    the financier's token allowance is signed, so a refused approval leaves nothing behind."""
    if agreement_hash.lower() != request.agreement_hash.lower():
        raise ContractRevert(
            "FinancingAgreementMismatch",
            {
                "requestId": request.id,
                "agreementHash": bytes32(request.agreement_hash),
                "given": bytes32(agreement_hash),
            },
        )
    if request.max_rate_bps is not None and rate_bps > request.max_rate_bps:
        raise ContractRevert(
            "FinancingRateAboveAccepted",
            {"requestId": request.id, "rateBps": rate_bps, "maxRateBps": request.max_rate_bps},
        )
