// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IFinancingHub
 * @notice Discounting (贴现) of credit certificates. A holder asks a chosen FINANCIER to buy
 * part of a certificate on its terms: the highest annual discount rate it accepts, a deadline
 * and the hash of the financing agreement; that value is escrowed. On approval, in one
 * transaction, the escrowed value becomes a certificate of the financier and the discounted
 * price moves in settlement tokens from the financier to the holder (delivery versus payment).
 * The approval must name the same agreement and a rate within the holder's terms. Rejection,
 * cancellation and expiry release the escrow.
 */
interface IFinancingHub {
    enum FinancingStatus {
        None,
        Pending,
        Approved,
        Rejected,
        Cancelled,
        Expired
    }

    struct FinancingRequest {
        uint256 id;
        uint256 certificateId; // the certificate whose value is escrowed
        uint256 requesterId; // its holder
        address requesterAccount; // the account that asked, and is paid
        uint256 financierId;
        uint256 amount; // escrowed value, minor units
        uint256 maxRateBps; // the highest annual discount rate the requester accepts
        bytes32 agreementHash; // hash of the off-chain financing agreement, named again on approval
        uint64 createdAt;
        uint64 expiresAt; // approval only before this time; anyone may expire it from then on
        FinancingStatus status;
        uint256 rateBps; // annual discount rate, set on approval
        uint256 price; // paid to the requester on approval
        uint256 financedCertificateId; // the financier's new certificate, on approval
        uint64 closedAt; // when it left Pending
    }

    // ---- errors --------------------------------------------------------------------------
    /// @dev No financing request has id `requestId`.
    error FinancingRequestNotFound(uint256 requestId);
    /// @dev Member `financierId` is not an active FINANCIER other than the requester.
    error FinancingInvalidFinancier(uint256 financierId);
    /// @dev A required value was empty or zero (`field` names it).
    error FinancingInvalidInput(string field);
    /// @dev The expiry `expiresAt` is not in the future or does not fit 40 bits.
    error FinancingInvalidExpiry(uint64 expiresAt);
    /// @dev Request `requestId` is `status`, which does not allow the change.
    error FinancingInvalidStatus(uint256 requestId, FinancingStatus status);
    /// @dev `account` is not bound to the financier (member `financierId`) of request `requestId`.
    error FinancingUnauthorizedFinancier(address account, uint256 requestId, uint256 financierId);
    /// @dev `account` is not bound to the requester (member `requesterId`) of request `requestId`.
    error FinancingUnauthorizedRequester(address account, uint256 requestId, uint256 requesterId);
    /// @dev Request `requestId` expired at `expiresAt`: it can no longer be approved.
    error FinancingRequestExpired(uint256 requestId, uint64 expiresAt);
    /// @dev Request `requestId` expires at `expiresAt`: it cannot be expired before.
    error FinancingRequestNotExpired(uint256 requestId, uint64 expiresAt);
    /// @dev A discount rate of `rateBps` is above the maximum `maxRateBps`.
    error FinancingInvalidRate(uint256 rateBps, uint256 maxRateBps);
    /// @dev The discount `discount` would consume the whole `amount`.
    error FinancingDiscountExceedsAmount(uint256 amount, uint256 discount);
    /// @dev Approving request `requestId` at `rateBps` is worse than the requester's terms: it
    /// accepts at most `maxRateBps`.
    error FinancingRateAboveAccepted(uint256 requestId, uint256 rateBps, uint256 maxRateBps);
    /// @dev The approval names agreement `given`, but request `requestId` was made under `agreementHash`.
    error FinancingAgreementMismatch(uint256 requestId, bytes32 agreementHash, bytes32 given);
    /// @dev `account`, which asked for request `requestId`, is no longer bound to the requester.
    error FinancingPayeeUnbound(uint256 requestId, address account);

    // ---- events --------------------------------------------------------------------------
    event FinancingRequested(
        uint256 indexed requestId,
        uint256 indexed certificateId,
        uint256 indexed financierId,
        uint256 requesterId,
        address requesterAccount,
        uint256 amount,
        bytes32 agreementHash,
        uint64 expiresAt,
        uint256 maxRateBps
    );
    /// @dev The financier's new certificate `financedCertificateId` holds the request's amount;
    /// `price` went to the requester; `discount` = amount - price.
    event FinancingApproved(
        uint256 indexed requestId,
        uint256 indexed financedCertificateId,
        uint256 indexed financierId,
        uint256 rateBps,
        uint256 daysToMaturity,
        uint256 price,
        uint256 discount
    );
    event FinancingRejected(uint256 indexed requestId, uint256 indexed financierId, bytes32 reasonHash);
    event FinancingCancelled(uint256 indexed requestId, uint256 indexed requesterId);
    event FinancingExpired(uint256 indexed requestId, address indexed by);

    // ---- views ---------------------------------------------------------------------------
    /// @notice Request `requestId`. Reverts `FinancingRequestNotFound`.
    function getRequest(uint256 requestId) external view returns (FinancingRequest memory);

    /// @notice Number of requests ever made; ids run from 1 to this value.
    function requestCount() external view returns (uint256);

    /// @notice Price and discount of `amount` at `rateBps` a year for `days_` whole days to maturity.
    function quote(uint256 amount, uint256 rateBps, uint256 days_)
        external
        pure
        returns (uint256 price, uint256 discount);
}
