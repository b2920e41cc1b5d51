// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IFinancingHub} from "../interfaces/IFinancingHub.sol";
import {ICreditCertificates} from "../interfaces/ICreditCertificates.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";
import {ConsortiumUpgradeable} from "../governance/ConsortiumUpgradeable.sol";

/**
 * @title FinancingHub
 * @notice A certificate holder asks a FINANCIER to discount part of a certificate on its
 * terms (the highest annual discount rate it accepts, a deadline, the agreement's hash); the
 * hub escrows that value in CreditCertificates. The financier approves with an annual discount
 * rate within those terms, naming the same agreement (delivery versus payment in one
 * transaction), or rejects; the requester may cancel; from its expiry on anyone may expire it.
 * Every exit other than approval releases the escrow.
 *
 * Price protection: for a given rate the price only rises as maturity nears, so a rate cap is
 * a price floor: whenever approved, the requester gets at least
 * `quote(amount, maxRateBps, days to maturity when it asked)`.
 *
 * Pricing (integer arithmetic, ACT/365, reproduced by `chain/pricing.py`):
 *
 *     days     = ceil((maturity - approvalTime) / 86400)      whole days, a started day counts
 *     discount = ceil(amount * rateBps * days / (10000 * 365)) in fen, rounded up
 *     price    = amount - discount                              in fen
 *
 * i.e. the price is the exact ACT/365 simple-discount price rounded DOWN to the fen: rounding
 * always favours the financier, by less than one fen.
 *
 * The financier pays with `SettlementToken.transferFrom`: it approves this hub beforehand.
 */
contract FinancingHub is IFinancingHub, ConsortiumUpgradeable {
    /// @notice Basis points in one.
    uint256 public constant BPS = 10_000;
    /// @notice ACT/365: days in a year.
    uint256 public constant DAYS_PER_YEAR = 365;
    /// @notice Highest annual discount rate, in basis points (100 %).
    uint256 public constant MAX_RATE_BPS = 10_000;

    /// @dev Packed request (5 slots; fields added later go last, for upgrades).
    struct StoredRequest {
        uint48 certificateId;
        uint48 requesterId;
        uint48 financierId;
        uint40 createdAt;
        uint40 expiresAt;
        FinancingStatus status;
        uint16 rateBps;
        address requesterAccount;
        uint48 financedCertificateId;
        uint40 closedAt;
        uint128 amount;
        uint128 price;
        bytes32 agreementHash;
        uint16 maxRateBps;
    }

    IMemberRegistry private immutable _members;
    ICreditCertificates private immutable _certificates;
    IERC20 private immutable _token;
    mapping(uint256 => StoredRequest) internal _requests;
    uint256 internal _requestCount;

    /// @param governance_ the ConsortiumGovernance contract
    /// @param members_ the MemberRegistry
    /// @param certificates_ CreditCertificates (must wire this hub with `setFinancingHub`)
    /// @param token_ the SettlementToken (must register this hub as a system contract)
    constructor(address governance_, address members_, address certificates_, address token_)
        ConsortiumManaged(governance_)
    {
        if (members_ == address(0) || certificates_ == address(0) || token_ == address(0)) {
            revert ConsortiumZeroAddress();
        }
        _members = IMemberRegistry(members_);
        _certificates = ICreditCertificates(certificates_);
        _token = IERC20(token_);
    }

    // ---- requester writes -------------------------------------------------------------------

    /**
     * @notice The holder of certificate `certificateId` asks financier `financierId` to buy
     * `amount` of it at an annual discount rate of at most `maxRateBps`; that value is escrowed
     * until the request closes.
     * @param maxRateBps the highest annual discount rate the requester accepts, in basis points
     * @param agreementHash hash of the financing agreement (a document stored on the platform,
     * shared with the financier), not zero; the approval must name it again
     * @param expiresAt the requester's deadline: approval is possible until just before this
     * time (unix seconds)
     * @return requestId the new request's id (ids run from 1)
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`);
     * - `financierId` is an active FINANCIER other than the holder
     *   (`FinancingInvalidFinancier(financierId)`);
     * - `maxRateBps <= MAX_RATE_BPS` (`FinancingInvalidRate(maxRateBps, MAX_RATE_BPS)`);
     * - `agreementHash` is not zero (`FinancingInvalidInput("agreementHash")`);
     * - `now < expiresAt < 2^40` (`FinancingInvalidExpiry(expiresAt)`);
     * - the caller is bound to the certificate's active holder, the certificate has not
     *   matured and `amount` is movable, as CreditCertificates checks it
     *   (`CertificateNotFound`, `MemberUnknownAccount`, `MemberInvalidStatus`,
     *   `CertificateUnauthorizedHolder`, `CertificateMatured`, `CertificateInvalidAmount`,
     *   `CertificateInsufficientValue`, `CertificateLocked`, `CertificateBelowMinimumSplit`).
     *
     * Emits `FinancingRequested`, and through CreditCertificates `CertificateValueLocked`.
     */
    function requestFinancing(
        uint256 certificateId,
        uint256 financierId,
        uint256 amount,
        uint256 maxRateBps,
        bytes32 agreementHash,
        uint64 expiresAt
    ) external whenNotPaused returns (uint256 requestId) {
        if (!_members.hasActiveRole(financierId, FINANCIER)) revert FinancingInvalidFinancier(financierId);
        if (maxRateBps > MAX_RATE_BPS) revert FinancingInvalidRate(maxRateBps, MAX_RATE_BPS);
        if (agreementHash == bytes32(0)) revert FinancingInvalidInput("agreementHash");
        if (expiresAt <= block.timestamp || expiresAt > type(uint40).max) revert FinancingInvalidExpiry(expiresAt);
        uint256 requesterId = _certificates.lockValue(certificateId, msg.sender, amount);
        if (requesterId == financierId) revert FinancingInvalidFinancier(financierId);
        requestId = ++_requestCount;
        _requests[requestId] = StoredRequest({
            certificateId: uint48(certificateId),
            requesterId: uint48(requesterId),
            financierId: uint48(financierId),
            createdAt: uint40(block.timestamp),
            expiresAt: uint40(expiresAt),
            status: FinancingStatus.Pending,
            rateBps: 0,
            requesterAccount: msg.sender,
            financedCertificateId: 0,
            closedAt: 0,
            amount: uint128(amount),
            price: 0,
            agreementHash: agreementHash,
            maxRateBps: uint16(maxRateBps)
        });
        emit FinancingRequested(
            requestId, certificateId, financierId, requesterId, msg.sender, amount, agreementHash, expiresAt, maxRateBps
        );
    }

    /**
     * @notice The requester withdraws its pending request; the escrow is released.
     *
     * Requirements: not paused (`ConsortiumPaused`); the request exists
     * (`FinancingRequestNotFound`); the caller is bound to the requester, which is active
     * (`FinancingUnauthorizedRequester(caller, requestId, requesterId)`, `MemberUnknownAccount`,
     * `MemberInvalidStatus`); it is Pending (`FinancingInvalidStatus(requestId, status)`).
     *
     * Emits `FinancingCancelled`, and through CreditCertificates `CertificateValueUnlocked`.
     */
    function cancelFinancing(uint256 requestId) external whenNotPaused {
        StoredRequest storage r = _stored(requestId);
        uint256 requesterId = r.requesterId;
        if (_members.requireActive(msg.sender) != requesterId) {
            revert FinancingUnauthorizedRequester(msg.sender, requestId, requesterId);
        }
        _close(requestId, r, FinancingStatus.Cancelled);
        emit FinancingCancelled(requestId, requesterId);
    }

    /**
     * @notice Closes a pending request at or after its expiry; the escrow is released. Anyone
     * may call it.
     *
     * Requirements: not paused (`ConsortiumPaused`); the request exists
     * (`FinancingRequestNotFound`) and is Pending (`FinancingInvalidStatus`); `now >= expiresAt`
     * (`FinancingRequestNotExpired(requestId, expiresAt)`).
     *
     * Emits `FinancingExpired`, and through CreditCertificates `CertificateValueUnlocked`.
     */
    function expireFinancing(uint256 requestId) external whenNotPaused {
        StoredRequest storage r = _stored(requestId);
        _requireStatus(requestId, r, FinancingStatus.Pending);
        if (block.timestamp < r.expiresAt) revert FinancingRequestNotExpired(requestId, r.expiresAt);
        _close(requestId, r, FinancingStatus.Expired);
        emit FinancingExpired(requestId, msg.sender);
    }

    // ---- financier writes -------------------------------------------------------------------

    /**
     * @notice The financier buys the escrowed value at `rateBps` a year under agreement
     * `agreementHash`: the value becomes its certificate and the price moves from the caller to
     * the requester's account, atomically. The caller must have approved this hub for at least
     * the price on the SettlementToken.
     * @param rateBps annual discount rate in basis points, at most the request's `maxRateBps`
     * @param agreementHash the agreement the financier accepts: the request's own
     * @return financedCertificateId the financier's new certificate
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`); the request exists (`FinancingRequestNotFound`);
     * - the caller is bound to the request's financier, an active FINANCIER
     *   (`MemberUnauthorizedAccount(caller, FINANCIER)`,
     *   `FinancingUnauthorizedFinancier(caller, requestId, financierId)`);
     * - Pending (`FinancingInvalidStatus`) and `now < expiresAt`
     *   (`FinancingRequestExpired(requestId, expiresAt)`);
     * - `agreementHash` is the request's (`FinancingAgreementMismatch(requestId, agreementHash, given)`);
     * - `rateBps` is within the requester's terms
     *   (`FinancingRateAboveAccepted(requestId, rateBps, maxRateBps)`) and the discount below the
     *   amount (`FinancingDiscountExceedsAmount(amount, discount)`);
     * - the requester's account is still bound to it (`FinancingPayeeUnbound(requestId, account)`);
     * - the certificate has not matured and its holder is active (`CertificateMatured`,
     *   `CertificateHolderFrozen`);
     * - the token transfer succeeds (`ERC20InsufficientAllowance`, `ERC20InsufficientBalance`,
     *   `SettlementUnauthorizedParticipant`).
     *
     * Emits `FinancingApproved`, and through the other contracts `CertificateValueUnlocked`,
     * `CertificateSplit`, and the token's `Transfer`.
     */
    function approveFinancing(uint256 requestId, uint256 rateBps, bytes32 agreementHash)
        external
        whenNotPaused
        returns (uint256 financedCertificateId)
    {
        StoredRequest storage r = _requireFinancier(requestId);
        _requireStatus(requestId, r, FinancingStatus.Pending);
        if (block.timestamp >= r.expiresAt) revert FinancingRequestExpired(requestId, r.expiresAt);
        if (agreementHash != r.agreementHash) revert FinancingAgreementMismatch(requestId, r.agreementHash, agreementHash);
        if (rateBps > r.maxRateBps) revert FinancingRateAboveAccepted(requestId, rateBps, r.maxRateBps);
        return _approve(requestId, r, rateBps);
    }

    /**
     * @notice The financier declines a pending request; the escrow is released.
     * @param reasonHash hash of the off-chain statement of reasons (may be zero)
     *
     * Requirements: not paused (`ConsortiumPaused`); the request exists
     * (`FinancingRequestNotFound`); the caller is bound to its financier, an active FINANCIER
     * (`MemberUnauthorizedAccount`, `FinancingUnauthorizedFinancier`); Pending
     * (`FinancingInvalidStatus`). Possible after expiry too.
     *
     * Emits `FinancingRejected`, and through CreditCertificates `CertificateValueUnlocked`.
     */
    function rejectFinancing(uint256 requestId, bytes32 reasonHash) external whenNotPaused {
        StoredRequest storage r = _requireFinancier(requestId);
        _close(requestId, r, FinancingStatus.Rejected);
        emit FinancingRejected(requestId, r.financierId, reasonHash);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @inheritdoc IFinancingHub
    function getRequest(uint256 requestId) external view returns (FinancingRequest memory request) {
        StoredRequest storage r = _stored(requestId);
        request.id = requestId;
        request.certificateId = r.certificateId;
        request.requesterId = r.requesterId;
        request.requesterAccount = r.requesterAccount;
        request.financierId = r.financierId;
        request.amount = r.amount;
        request.maxRateBps = r.maxRateBps;
        request.agreementHash = r.agreementHash;
        request.createdAt = r.createdAt;
        request.expiresAt = r.expiresAt;
        request.status = r.status;
        request.rateBps = r.rateBps;
        request.price = r.price;
        request.financedCertificateId = r.financedCertificateId;
        request.closedAt = r.closedAt;
    }

    /// @inheritdoc IFinancingHub
    function requestCount() external view returns (uint256) {
        return _requestCount;
    }

    /**
     * @inheritdoc IFinancingHub
     * @dev `discount = ceil(amount * rateBps * days / (BPS * DAYS_PER_YEAR))`,
     * `price = amount - discount`. Reverts `FinancingInvalidRate` above `MAX_RATE_BPS` and
     * `FinancingDiscountExceedsAmount` when the discount is not below the amount.
     */
    function quote(uint256 amount, uint256 rateBps, uint256 days_)
        public
        pure
        virtual
        returns (uint256 price, uint256 discount)
    {
        if (rateBps > MAX_RATE_BPS) revert FinancingInvalidRate(rateBps, MAX_RATE_BPS);
        uint256 denominator = BPS * DAYS_PER_YEAR;
        uint256 numerator = amount * rateBps * days_;
        discount = numerator / denominator;
        if (numerator % denominator != 0) discount += 1;
        if (discount >= amount) revert FinancingDiscountExceedsAmount(amount, discount);
        price = amount - discount;
    }

    /// @notice Whole days from `at` to `maturity`, a started day counting as one (0 once matured).
    function daysToMaturity(uint256 maturity, uint256 at) public pure returns (uint256) {
        if (at >= maturity) return 0;
        return (maturity - at + 1 days - 1) / 1 days;
    }

    /// @notice Price and discount of request `requestId` if approved now at `rateBps`.
    /// Reverts `FinancingRequestNotFound` and as `quote`.
    function quoteRequest(uint256 requestId, uint256 rateBps) external view returns (uint256 price, uint256 discount) {
        StoredRequest storage r = _stored(requestId);
        uint256 maturity = _certificates.maturityOf(r.certificateId);
        return quote(r.amount, rateBps, daysToMaturity(maturity, block.timestamp));
    }

    /// @notice The contracts this hub works with.
    function wiring() external view returns (address members, address certificates, address token) {
        return (address(_members), address(_certificates), address(_token));
    }

    // ---- internals --------------------------------------------------------------------------

    function _approve(uint256 requestId, StoredRequest storage r, uint256 rateBps)
        private
        returns (uint256 financedCertificateId)
    {
        uint256 amount = r.amount;
        uint256 certificateId = r.certificateId;
        uint256 days_ = daysToMaturity(_certificates.maturityOf(certificateId), block.timestamp);
        (uint256 price, uint256 discount) = quote(amount, rateBps, days_);
        address payee = r.requesterAccount;
        if (_members.memberOf(payee) != r.requesterId) revert FinancingPayeeUnbound(requestId, payee);

        _setStatus(r, FinancingStatus.Approved);
        r.rateBps = uint16(rateBps);
        r.price = uint128(price);
        uint256 financierId = r.financierId;
        financedCertificateId = _certificates.settleLocked(certificateId, amount, financierId);
        r.financedCertificateId = uint48(financedCertificateId);
        emit FinancingApproved(requestId, financedCertificateId, financierId, rateBps, days_, price, discount);
        // The token reverts on failure (OpenZeppelin ERC20), so the return value is always true.
        _token.transferFrom(msg.sender, payee, price);
    }

    /// @dev Closes a pending request without a sale and releases its escrow.
    function _close(uint256 requestId, StoredRequest storage r, FinancingStatus to) private {
        _requireStatus(requestId, r, FinancingStatus.Pending);
        _setStatus(r, to);
        _certificates.unlockValue(r.certificateId, r.amount);
    }

    /// @dev The one place where a request's status changes (from Pending, checked by callers).
    function _setStatus(StoredRequest storage r, FinancingStatus to) private {
        r.status = to;
        r.closedAt = uint40(block.timestamp);
    }

    function _requireStatus(uint256 requestId, StoredRequest storage r, FinancingStatus expected) private view {
        if (r.status != expected) revert FinancingInvalidStatus(requestId, r.status);
    }

    function _requireFinancier(uint256 requestId) private view returns (StoredRequest storage r) {
        r = _stored(requestId);
        uint256 financierId = r.financierId;
        if (_members.requireActiveMember(msg.sender, FINANCIER) != financierId) {
            revert FinancingUnauthorizedFinancier(msg.sender, requestId, financierId);
        }
    }

    function _stored(uint256 requestId) private view returns (StoredRequest storage r) {
        r = _requests[requestId];
        if (r.status == FinancingStatus.None) revert FinancingRequestNotFound(requestId);
    }
}
