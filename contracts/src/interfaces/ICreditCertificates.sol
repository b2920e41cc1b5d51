// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title ICreditCertificates
 * @notice Credit certificates (数字债权凭证): a core enterprise's confirmed payable, tokenized.
 * A root certificate is issued against confirmed invoices and drawn on a credit line; value
 * moves by split transfer, each hop creating a child certificate (`parent` = source, same
 * `root`), so the certificates of a root form its lineage tree (穿透式追溯).
 *
 * Invariant, for every root: sum of the live `value`s of its certificates + the root's
 * `redeemedValue` == the root's `faceValue`.
 */
interface ICreditCertificates {
    /// @notice A certificate as the views return it.
    struct Certificate {
        uint256 id;
        uint256 rootId; // == id for a root
        uint256 parentId; // 0 for a root
        uint256 issuerId; // the core enterprise that owes the root
        uint256 holderId;
        uint256 value; // live value, locked part included; 0 once spent or redeemed
        uint256 locked; // part of `value` escrowed by the FinancingHub
        uint256 redeemedValue; // what its holder was paid at redemption
        uint64 maturity;
        uint64 createdAt;
        uint64 redeemedAt; // 0 until redeemed
        uint256 depth; // 0 for a root, parent's depth + 1 otherwise
        uint256 childCount;
    }

    /// @notice What a root certificate adds: the debt itself.
    struct Root {
        uint256 id;
        uint256 issuerId;
        uint256 lineId;
        uint256 faceValue;
        uint256 redeemedValue; // total paid out to holders so far
        uint64 maturity;
        uint64 issuedAt;
        uint64 repaidAt; // 0 until the issuer repaid
    }

    // ---- errors --------------------------------------------------------------------------
    /// @dev No certificate has id `id`.
    error CertificateNotFound(uint256 id);
    /// @dev Amounts must be above zero and fit 128 bits.
    error CertificateInvalidAmount(uint256 amount);
    /// @dev The maturity must be in the future and fit 40 bits.
    error CertificateInvalidMaturity(uint64 maturity);
    /// @dev Member `memberId` cannot receive certificates: not an active SUPPLIER or FINANCIER,
    /// or the sender itself (for an issue: not an active SUPPLIER other than the issuer).
    error CertificateInvalidRecipient(uint256 memberId);
    /// @dev A certificate is backed by 1..`max` invoices, not `count`.
    error CertificateInvalidInvoiceCount(uint256 count, uint256 max);
    /// @dev The backing invoices total `total`, less than the face value `faceValue`.
    error CertificateInsufficientBacking(uint256 total, uint256 faceValue);
    /// @dev `account` is not bound to the holder (member `holderId`) of certificate `id`.
    error CertificateUnauthorizedHolder(address account, uint256 id, uint256 holderId);
    /// @dev `account` is not bound to the issuer (member `issuerId`) of root `rootId`.
    error CertificateUnauthorizedIssuer(address account, uint256 rootId, uint256 issuerId);
    /// @dev The holder (member `holderId`) of certificate `id` is suspended: its value is frozen.
    error CertificateHolderFrozen(uint256 id, uint256 holderId);
    /// @dev Certificate `id` has `value`, less than the `amount` asked.
    error CertificateInsufficientValue(uint256 id, uint256 value, uint256 amount);
    /// @dev `locked` of certificate `id` is escrowed and cannot move.
    error CertificateLocked(uint256 id, uint256 locked);
    /// @dev Certificate `id` has only `locked` escrowed, less than the `amount` to release.
    error CertificateInsufficientLocked(uint256 id, uint256 locked, uint256 amount);
    /// @dev A split would leave a piece of `amount`, below the governance minimum `minimum`.
    error CertificateBelowMinimumSplit(uint256 amount, uint256 minimum);
    /// @dev Certificate `id` matured at `maturity`: its value no longer moves.
    error CertificateMatured(uint256 id, uint64 maturity);
    /// @dev Certificate `id` matures at `maturity`: not redeemable yet.
    error CertificateNotMatured(uint256 id, uint64 maturity);
    /// @dev Certificate `id` is not a root.
    error CertificateNotRoot(uint256 id);
    /// @dev Root `rootId` was repaid already.
    error CertificateRootAlreadyRepaid(uint256 rootId);
    /// @dev Root `rootId` is not repaid yet.
    error CertificateRootNotRepaid(uint256 rootId);
    /// @dev Certificate `id` holds no value to redeem (spent or redeemed already).
    error CertificateNothingToRedeem(uint256 id);
    /// @dev Certificate `id` has no child number `index` (it has fewer children).
    error CertificateChildNotFound(uint256 id, uint256 index);
    /// @dev `caller` is not the wired FinancingHub (for escrow) or Maturity (for repayment).
    error CertificateUnauthorizedCaller(address caller);
    /// @dev The system contract is wired already, to `current`.
    error CertificateSystemAlreadySet(address current);

    // ---- events --------------------------------------------------------------------------
    event CertificateIssued(
        uint256 indexed id,
        uint256 indexed issuerId,
        uint256 indexed holderId,
        uint256 lineId,
        uint256 faceValue,
        uint64 maturity,
        bytes32[] invoiceKeys
    );
    /// @dev `amount` moved from `sourceId` (held by `fromId`, `sourceValue` left) to the new
    /// certificate `childId` of `toId`, whose parent is `sourceId` and root `rootId`.
    event CertificateSplit(
        uint256 indexed sourceId,
        uint256 indexed childId,
        uint256 indexed rootId,
        uint256 fromId,
        uint256 toId,
        uint256 amount,
        uint256 sourceValue
    );
    /// @dev `amount` of certificate `id` went into escrow; `locked` is escrowed in total now.
    event CertificateValueLocked(uint256 indexed id, uint256 amount, uint256 locked);
    /// @dev `amount` of certificate `id` left escrow; `locked` is escrowed in total now.
    event CertificateValueUnlocked(uint256 indexed id, uint256 amount, uint256 locked);
    event RootRepaid(uint256 indexed rootId, uint256 indexed issuerId, uint256 amount, uint256 lineId);
    event CertificateRedeemed(uint256 indexed id, uint256 indexed rootId, uint256 indexed holderId, uint256 amount);
    event CertificateFinancingHubSet(address financingHub);
    event CertificateMaturitySet(address maturity);

    // ---- writes used by other contracts ----------------------------------------------------
    /// @notice FinancingHub: escrows `amount` of certificate `id` held by `account`'s member;
    /// returns that member's id.
    function lockValue(uint256 id, address account, uint256 amount) external returns (uint256 holderId);

    /// @notice FinancingHub: releases `amount` of escrowed value of certificate `id`.
    function unlockValue(uint256 id, uint256 amount) external;

    /// @notice FinancingHub: turns `amount` of escrowed value of certificate `id` into a new
    /// certificate of member `toId`; returns its id.
    function settleLocked(uint256 id, uint256 amount, uint256 toId) external returns (uint256 childId);

    /// @notice Maturity: records that `account`'s member repaid root `rootId`; returns the
    /// amount owed (its face value).
    function recordRepayment(uint256 rootId, address account) external returns (uint256 amount);

    /// @notice Maturity: records the redemption of certificate `id` by `account`'s member;
    /// returns the amount to pay it.
    function recordRedemption(uint256 id, address account) external returns (uint256 amount);

    // ---- views ---------------------------------------------------------------------------
    /// @notice Certificate `id`. Reverts `CertificateNotFound`.
    function getCertificate(uint256 id) external view returns (Certificate memory);

    /// @notice Root `rootId`. Reverts `CertificateNotFound`, or `CertificateNotRoot`.
    function getRoot(uint256 rootId) external view returns (Root memory);

    /// @notice The maturity of certificate `id` (its root's). Reverts `CertificateNotFound`.
    function maturityOf(uint256 id) external view returns (uint64);

    /// @notice Number of certificates ever created; ids run from 1 to this value.
    function certificateCount() external view returns (uint256);
}
