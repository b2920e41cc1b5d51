// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IInvoiceRegistry
 * @notice Anchors of invoices between members. An invoice is known by its key, which the
 * registry derives itself (`deriveInvoiceKey`, reproduced by `chain/invoice_key.py`):
 *
 *     key = keccak256(abi.encode(bytes32 sellerCreditCodeHash, string invoiceCode, string invoiceNumber))
 *
 * where `sellerCreditCodeHash` is the caller's member's credit-code hash in MemberRegistry and
 * the code and number are canonical: a VAT invoice (发票代码 10 or 12 ASCII digits, 发票号码 8
 * ASCII digits) or a fully digital e-invoice (数电发票: no code, a 20-digit number). Anything
 * else is refused (`InvoiceInvalidIdentity`), never rewritten into another key. A key is
 * registered at most once, ever: this is the consortium-wide guard against financing one
 * invoice twice, and a seller can only register keys under its own credit code.
 *
 * Life cycle: Registered --buyer confirms--> Confirmed --certificate issued--> Assigned;
 * Registered --buyer disputes--> Disputed; Registered or Disputed --seller cancels--> Cancelled.
 * Cancelled is final and the key stays taken: a cancelled invoice can neither be registered
 * again nor back a certificate, so it never backs financing (as the tax rules never reuse the
 * number of a voided invoice: a corrected invoice is a new invoice with a new number).
 */
interface IInvoiceRegistry {
    enum InvoiceStatus {
        None,
        Registered,
        Confirmed,
        Assigned,
        Disputed,
        Cancelled
    }

    struct Invoice {
        bytes32 key;
        uint256 sellerId;
        uint256 buyerId;
        uint256 amount; // minor units (fen)
        uint64 issueDate; // unix seconds
        uint64 dueDate; // unix seconds
        bytes32 documentHash; // hash of the off-chain invoice document
        InvoiceStatus status;
        uint256 certificateId; // the certificate it backs once Assigned, else 0
    }

    // ---- errors --------------------------------------------------------------------------
    /// @dev An invoice with `key` was registered already (whatever its status).
    error InvoiceAlreadyRegistered(bytes32 key);
    /// @dev No invoice has key `key`.
    error InvoiceNotFound(bytes32 key);
    /// @dev A required value was empty or zero (`field` names it).
    error InvoiceInvalidInput(string field);
    /// @dev (`invoiceCode`, `invoiceNumber`) is neither a VAT invoice (code of 10 or 12 digits,
    /// number of 8) nor a fully digital e-invoice (no code, number of 20 digits).
    error InvoiceInvalidIdentity(string invoiceCode, string invoiceNumber);
    /// @dev The due date is not after the issue date (or does not fit 40 bits).
    error InvoiceInvalidDates(uint64 issueDate, uint64 dueDate);
    /// @dev The issue date is later than today in any time zone.
    error InvoiceIssueDateInFuture(uint64 issueDate);
    /// @dev The due date is more than the governance maximum tenor after the issue date.
    error InvoiceTenorTooLong(uint64 issueDate, uint64 dueDate, uint256 maxTenorSeconds);
    /// @dev Member `buyerId` is not an active member other than the seller.
    error InvoiceInvalidBuyer(uint256 buyerId);
    /// @dev Invoice `key` is `status`, which does not allow the change.
    error InvoiceInvalidStatus(bytes32 key, InvoiceStatus status);
    /// @dev `account` is not bound to the buyer (member `buyerId`) of invoice `key`.
    error InvoiceUnauthorizedBuyer(address account, bytes32 key, uint256 buyerId);
    /// @dev `account` is not bound to the seller (member `sellerId`) of invoice `key`.
    error InvoiceUnauthorizedSeller(address account, bytes32 key, uint256 sellerId);
    /// @dev Invoice `key` is owed by `buyerId` to `sellerId`, not by the certificate's parties.
    error InvoicePartyMismatch(bytes32 key, uint256 buyerId, uint256 sellerId);
    /// @dev `caller` is not the CreditCertificates contract.
    error InvoiceUnauthorizedCaller(address caller);
    /// @dev The CreditCertificates contract is wired already, to `current`.
    error InvoiceCertificatesAlreadySet(address current);

    // ---- events --------------------------------------------------------------------------
    /// @dev `invoiceCode` and `invoiceNumber` are the canonical identity the key was derived from.
    event InvoiceRegistered(
        bytes32 indexed key,
        uint256 indexed sellerId,
        uint256 indexed buyerId,
        uint256 amount,
        uint64 issueDate,
        uint64 dueDate,
        bytes32 documentHash,
        string invoiceCode,
        string invoiceNumber
    );
    event InvoiceConfirmed(bytes32 indexed key, uint256 indexed buyerId);
    event InvoiceDisputed(bytes32 indexed key, uint256 indexed buyerId, bytes32 reasonHash);
    event InvoiceCancelled(bytes32 indexed key, uint256 indexed sellerId);
    event InvoiceAssigned(bytes32 indexed key, uint256 indexed certificateId);
    event InvoiceCertificatesSet(address certificates);

    // ---- writes used by other contracts ----------------------------------------------------
    /// @notice Marks confirmed invoices owed by `buyerId` to `sellerId` as backing certificate
    /// `certificateId`; returns their total amount. Only the CreditCertificates contract.
    function assignInvoices(bytes32[] calldata keys, uint256 buyerId, uint256 sellerId, uint256 certificateId)
        external
        returns (uint256 total);

    // ---- views ---------------------------------------------------------------------------
    /// @notice Invoice `key`. Reverts `InvoiceNotFound` if it was never registered.
    function getInvoice(bytes32 key) external view returns (Invoice memory);

    /// @notice The status of invoice `key` (None if never registered).
    function statusOf(bytes32 key) external view returns (InvoiceStatus);

    /// @notice True once `key` was registered, whatever happened to it since.
    function isRegistered(bytes32 key) external view returns (bool);

    /// @notice Number of invoices ever registered.
    function invoiceCount() external view returns (uint256);

    /// @notice The key of invoice (`invoiceCode`, `invoiceNumber`) issued by the member whose
    /// credit-code hash is `sellerCreditCodeHash`. Reverts `InvoiceInvalidIdentity` unless the
    /// code and number are canonical.
    function deriveInvoiceKey(bytes32 sellerCreditCodeHash, string calldata invoiceCode, string calldata invoiceNumber)
        external
        pure
        returns (bytes32);
}
