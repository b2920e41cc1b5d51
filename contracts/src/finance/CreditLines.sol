// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICreditLines} from "../interfaces/ICreditLines.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";
import {ConsortiumUpgradeable} from "../governance/ConsortiumUpgradeable.sol";

/**
 * @title CreditLines
 * @notice A FINANCIER grants a CORE_ENTERPRISE a credit line (limit, expiry). The certificates
 * contract draws on it when the enterprise issues a certificate and restores it when the
 * enterprise repays that certificate's root. The financier may change the limit (never below
 * what is used) or close the line (no more draws; repayments still restore it).
 */
contract CreditLines is ICreditLines, ConsortiumUpgradeable {
    /// @dev Packed storage of a line (2 slots).
    struct StoredLine {
        uint64 financierId;
        uint64 borrowerId;
        uint40 expiresAt;
        uint40 grantedAt;
        CreditLineStatus status;
        uint128 limit;
        uint128 used;
    }

    IMemberRegistry private immutable _members;
    address internal _certificates;
    mapping(uint256 => StoredLine) internal _lines;
    uint256 internal _lineCount;

    /// @param governance_ the ConsortiumGovernance contract
    /// @param members_ the MemberRegistry
    constructor(address governance_, address members_) ConsortiumManaged(governance_) {
        if (members_ == address(0)) revert ConsortiumZeroAddress();
        _members = IMemberRegistry(members_);
    }

    modifier onlyCertificates() {
        if (msg.sender != _certificates) revert CreditLineUnauthorizedCaller(msg.sender);
        _;
    }

    // ---- financier writes -------------------------------------------------------------------

    /**
     * @notice The caller's FINANCIER grants member `borrowerId` a credit line.
     * @param borrowerId an active CORE_ENTERPRISE member
     * @param limit the most it may have drawn at a time, minor units
     * @param expiresAt no draws at or after this time (unix seconds)
     * @return lineId the new line's id (ids run from 1)
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`);
     * - the caller is bound to an active FINANCIER, else `MemberUnauthorizedAccount(caller, FINANCIER)`;
     * - `borrowerId` is an active CORE_ENTERPRISE, else `CreditLineInvalidBorrower(borrowerId)`;
     * - `0 < limit < 2^128`, else `CreditLineInvalidLimit(limit, 0)`;
     * - `now < expiresAt < 2^40`, else `CreditLineInvalidExpiry(expiresAt)`.
     *
     * Emits `CreditLineGranted`.
     */
    function grantCreditLine(uint256 borrowerId, uint256 limit, uint64 expiresAt)
        external
        whenNotPaused
        returns (uint256 lineId)
    {
        uint256 financierId = _members.requireActiveMember(msg.sender, FINANCIER);
        return _grantCreditLine(financierId, borrowerId, limit, expiresAt);
    }

    /**
     * @notice The line's financier changes its limit.
     *
     * Requirements: not paused (`ConsortiumPaused`); the line exists (`CreditLineNotFound`); the
     * caller is bound to its financier, an active FINANCIER
     * (`CreditLineUnauthorizedFinancier(caller, lineId, financierId)`); the line is Open
     * (`CreditLineInvalidStatus(lineId, status)`); `used <= newLimit < 2^128` and
     * `newLimit > 0`, else `CreditLineInvalidLimit(newLimit, used)`.
     *
     * Emits `CreditLineLimitChanged`.
     */
    function setLimit(uint256 lineId, uint256 newLimit) external whenNotPaused {
        StoredLine storage line = _requireFinancier(lineId);
        _requireOpen(lineId, line);
        uint256 used = line.used;
        if (newLimit == 0 || newLimit < used || newLimit > type(uint128).max) {
            revert CreditLineInvalidLimit(newLimit, used);
        }
        uint256 previous = line.limit;
        line.limit = uint128(newLimit);
        emit CreditLineLimitChanged(lineId, previous, newLimit);
    }

    /**
     * @notice The line's financier closes it: no more draws. Repayments still restore it.
     *
     * Requirements: not paused (`ConsortiumPaused`); the line exists (`CreditLineNotFound`); the
     * caller is bound to its financier (`CreditLineUnauthorizedFinancier`); the line is Open
     * (`CreditLineInvalidStatus(lineId, status)`).
     *
     * Emits `CreditLineClosed`.
     */
    function closeCreditLine(uint256 lineId) external whenNotPaused {
        StoredLine storage line = _requireFinancier(lineId);
        _requireOpen(lineId, line);
        line.status = CreditLineStatus.Closed;
        emit CreditLineClosed(lineId, line.used);
    }

    // ---- system writes ----------------------------------------------------------------------

    /**
     * @inheritdoc ICreditLines
     * @dev Requirements: the caller is the wired CreditCertificates contract
     * (`CreditLineUnauthorizedCaller(caller)`); the line exists (`CreditLineNotFound`), belongs
     * to `borrowerId` (`CreditLineNotBorrower(lineId, borrower, borrowerId)`), is Open
     * (`CreditLineInvalidStatus`) and not expired (`CreditLineExpired(lineId, expiresAt)`);
     * `amount` is at most what is available
     * (`CreditLineInsufficientAvailable(lineId, available, amount)`).
     *
     * Emits `CreditLineDrawn`.
     */
    function draw(uint256 lineId, uint256 borrowerId, uint256 amount, uint256 certificateId)
        external
        onlyCertificates
    {
        StoredLine storage line = _stored(lineId);
        if (line.borrowerId != borrowerId) revert CreditLineNotBorrower(lineId, line.borrowerId, borrowerId);
        _requireOpen(lineId, line);
        if (block.timestamp >= line.expiresAt) revert CreditLineExpired(lineId, line.expiresAt);
        uint256 available = line.limit - line.used;
        if (amount > available) revert CreditLineInsufficientAvailable(lineId, available, amount);
        uint256 used = line.used + amount;
        line.used = uint128(used);
        emit CreditLineDrawn(lineId, certificateId, amount, used);
    }

    /**
     * @inheritdoc ICreditLines
     * @dev Requirements: the caller is the wired CreditCertificates contract
     * (`CreditLineUnauthorizedCaller(caller)`); the line exists (`CreditLineNotFound`);
     * `amount` is at most what is used (`CreditLineExcessiveRestore(lineId, used, amount)`).
     * Works on closed and expired lines.
     *
     * Emits `CreditLineRestored`.
     */
    function restore(uint256 lineId, uint256 amount, uint256 certificateId) external onlyCertificates {
        StoredLine storage line = _stored(lineId);
        uint256 used = line.used;
        if (amount > used) revert CreditLineExcessiveRestore(lineId, used, amount);
        used -= amount;
        line.used = uint128(used);
        emit CreditLineRestored(lineId, certificateId, amount, used);
    }

    /**
     * @notice Wires the CreditCertificates contract, the only one allowed to draw and restore.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); not wired yet
     * (`CreditLineCertificatesAlreadySet(current)`); not zero (`ConsortiumZeroAddress`).
     *
     * Emits `CreditLineCertificatesSet`.
     */
    function setCertificates(address certificates_) external onlyGovernance {
        if (_certificates != address(0)) revert CreditLineCertificatesAlreadySet(_certificates);
        if (certificates_ == address(0)) revert ConsortiumZeroAddress();
        _certificates = certificates_;
        emit CreditLineCertificatesSet(certificates_);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @inheritdoc ICreditLines
    function getCreditLine(uint256 lineId) external view returns (CreditLine memory) {
        StoredLine storage line = _stored(lineId);
        return CreditLine({
            id: lineId,
            financierId: line.financierId,
            borrowerId: line.borrowerId,
            limit: line.limit,
            used: line.used,
            expiresAt: line.expiresAt,
            grantedAt: line.grantedAt,
            status: line.status
        });
    }

    /// @notice The limit of line `lineId`. Reverts `CreditLineNotFound` for an unknown id.
    function limitOf(uint256 lineId) external view returns (uint256) {
        return _stored(lineId).limit;
    }

    /// @notice What is drawn on line `lineId`. Reverts `CreditLineNotFound` for an unknown id.
    function usedOf(uint256 lineId) external view returns (uint256) {
        return _stored(lineId).used;
    }

    /// @inheritdoc ICreditLines
    function availableOf(uint256 lineId) external view returns (uint256) {
        StoredLine storage line = _stored(lineId);
        if (line.status != CreditLineStatus.Open || block.timestamp >= line.expiresAt) return 0;
        return line.limit - line.used;
    }

    /// @inheritdoc ICreditLines
    function creditLineCount() external view returns (uint256) {
        return _lineCount;
    }

    /// @notice The CreditCertificates contract allowed to draw and restore (zero until wired).
    function certificates() external view returns (address) {
        return _certificates;
    }

    // ---- internals --------------------------------------------------------------------------

    function _grantCreditLine(uint256 financierId, uint256 borrowerId, uint256 limit, uint64 expiresAt)
        internal
        returns (uint256 lineId)
    {
        if (!_members.hasActiveRole(borrowerId, CORE_ENTERPRISE)) revert CreditLineInvalidBorrower(borrowerId);
        if (limit == 0 || limit > type(uint128).max) revert CreditLineInvalidLimit(limit, 0);
        if (expiresAt <= block.timestamp || expiresAt > type(uint40).max) revert CreditLineInvalidExpiry(expiresAt);
        lineId = ++_lineCount;
        _lines[lineId] = StoredLine({
            financierId: uint64(financierId),
            borrowerId: uint64(borrowerId),
            expiresAt: uint40(expiresAt),
            grantedAt: uint40(block.timestamp),
            status: CreditLineStatus.Open,
            limit: uint128(limit),
            used: 0
        });
        emit CreditLineGranted(lineId, financierId, borrowerId, limit, expiresAt);
    }

    function _requireFinancier(uint256 lineId) private view returns (StoredLine storage line) {
        line = _stored(lineId);
        uint256 financierId = line.financierId;
        if (_members.memberOf(msg.sender) != financierId || !_members.hasActiveRole(financierId, FINANCIER)) {
            revert CreditLineUnauthorizedFinancier(msg.sender, lineId, financierId);
        }
    }

    function _requireOpen(uint256 lineId, StoredLine storage line) private view {
        if (line.status != CreditLineStatus.Open) revert CreditLineInvalidStatus(lineId, line.status);
    }

    function _stored(uint256 lineId) private view returns (StoredLine storage line) {
        line = _lines[lineId];
        if (line.status == CreditLineStatus.None) revert CreditLineNotFound(lineId);
    }
}
