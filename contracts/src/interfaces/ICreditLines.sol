// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title ICreditLines
 * @notice Credit lines that financiers grant core enterprises. Issuing a certificate draws on
 * one of the issuer's lines; the repayment of that certificate's root restores it. Only the
 * CreditCertificates contract draws and restores.
 */
interface ICreditLines {
    enum CreditLineStatus {
        None,
        Open,
        Closed
    }

    struct CreditLine {
        uint256 id;
        uint256 financierId;
        uint256 borrowerId; // a CORE_ENTERPRISE member
        uint256 limit; // minor units
        uint256 used; // drawn by certificates not yet repaid
        uint64 expiresAt; // no draws at or after this time
        uint64 grantedAt;
        CreditLineStatus status;
    }

    // ---- errors --------------------------------------------------------------------------
    /// @dev No credit line has id `lineId`.
    error CreditLineNotFound(uint256 lineId);
    /// @dev Member `borrowerId` is not an active CORE_ENTERPRISE.
    error CreditLineInvalidBorrower(uint256 borrowerId);
    /// @dev A limit must be above zero, fit 128 bits and not be below the line's use.
    error CreditLineInvalidLimit(uint256 limit, uint256 used);
    /// @dev The expiry `expiresAt` is not in the future or does not fit 40 bits.
    error CreditLineInvalidExpiry(uint64 expiresAt);
    /// @dev `account` is not bound to the financier (member `financierId`) of line `lineId`.
    error CreditLineUnauthorizedFinancier(address account, uint256 lineId, uint256 financierId);
    /// @dev Line `lineId` belongs to member `borrowerId`, not to member `memberId`.
    error CreditLineNotBorrower(uint256 lineId, uint256 borrowerId, uint256 memberId);
    /// @dev Line `lineId` is `status`, which does not allow the change.
    error CreditLineInvalidStatus(uint256 lineId, CreditLineStatus status);
    /// @dev Line `lineId` expired at `expiresAt`.
    error CreditLineExpired(uint256 lineId, uint64 expiresAt);
    /// @dev Line `lineId` has `available` left, less than the `amount` asked.
    error CreditLineInsufficientAvailable(uint256 lineId, uint256 available, uint256 amount);
    /// @dev Line `lineId` has only `used` drawn, less than the `amount` to restore.
    error CreditLineExcessiveRestore(uint256 lineId, uint256 used, uint256 amount);
    /// @dev `caller` is not the CreditCertificates contract.
    error CreditLineUnauthorizedCaller(address caller);
    /// @dev The CreditCertificates contract is wired already, to `current`.
    error CreditLineCertificatesAlreadySet(address current);

    // ---- events --------------------------------------------------------------------------
    event CreditLineGranted(
        uint256 indexed lineId, uint256 indexed financierId, uint256 indexed borrowerId, uint256 limit, uint64 expiresAt
    );
    event CreditLineLimitChanged(uint256 indexed lineId, uint256 previousLimit, uint256 newLimit);
    event CreditLineClosed(uint256 indexed lineId, uint256 used);
    /// @dev `certificateId` is the root certificate whose issue drew `amount`; `used` is the
    /// line's use afterwards.
    event CreditLineDrawn(uint256 indexed lineId, uint256 indexed certificateId, uint256 amount, uint256 used);
    /// @dev `certificateId` is the repaid root certificate; `used` is the line's use afterwards.
    event CreditLineRestored(uint256 indexed lineId, uint256 indexed certificateId, uint256 amount, uint256 used);
    event CreditLineCertificatesSet(address certificates);

    // ---- writes used by other contracts ----------------------------------------------------
    /// @notice Draws `amount` on line `lineId` of `borrowerId` for root certificate `certificateId`.
    function draw(uint256 lineId, uint256 borrowerId, uint256 amount, uint256 certificateId) external;

    /// @notice Gives back `amount` to line `lineId` when root certificate `certificateId` is repaid.
    function restore(uint256 lineId, uint256 amount, uint256 certificateId) external;

    // ---- views ---------------------------------------------------------------------------
    /// @notice Line `lineId`. Reverts `CreditLineNotFound` for an unknown id.
    function getCreditLine(uint256 lineId) external view returns (CreditLine memory);

    /// @notice What line `lineId` can still lend now: 0 when closed or expired.
    function availableOf(uint256 lineId) external view returns (uint256);

    /// @notice Number of lines ever granted; ids run from 1 to this value.
    function creditLineCount() external view returns (uint256);
}
