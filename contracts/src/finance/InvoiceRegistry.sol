// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInvoiceRegistry} from "../interfaces/IInvoiceRegistry.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";

/**
 * @title InvoiceRegistry
 * @notice Invoice anchors: an active SUPPLIER (the seller) registers an invoice it issued to
 * another member (the buyer); the buyer confirms the payable (确权) or disputes it; the seller
 * may cancel it before confirmation. Confirmed invoices back credit certificates: the
 * CreditCertificates contract (wired once by governance) marks them Assigned.
 *
 * The key is computed off chain from the normalized (seller credit code, invoice code, invoice
 * number), see `chain/invoice_key.py`; a key is registered at most once, ever.
 */
contract InvoiceRegistry is IInvoiceRegistry, ConsortiumManaged {
    /// @dev Packed storage of an invoice (3 slots); the key is the mapping key.
    struct StoredInvoice {
        uint64 sellerId;
        uint64 buyerId;
        uint40 issueDate;
        uint40 dueDate;
        InvoiceStatus status;
        uint128 amount;
        uint64 certificateId;
        bytes32 documentHash;
    }

    IMemberRegistry private immutable _members;
    address private _certificates;
    mapping(bytes32 => StoredInvoice) private _invoices;
    uint256 private _invoiceCount;

    /// @param governance_ the ConsortiumGovernance contract
    /// @param members_ the MemberRegistry
    constructor(address governance_, address members_) ConsortiumManaged(governance_) {
        if (members_ == address(0)) revert ConsortiumZeroAddress();
        _members = IMemberRegistry(members_);
    }

    // ---- member writes ----------------------------------------------------------------------

    /**
     * @notice Registers the anchor of an invoice the caller's member issued to `buyerId`.
     * @param key keccak256 of the normalized (seller credit code, invoice code, invoice number)
     * @param buyerId the member that owes the invoice
     * @param amount the amount in minor units (fen), > 0
     * @param issueDate issue date, unix seconds
     * @param dueDate due date, unix seconds, not before `issueDate`
     * @param documentHash hash of the off-chain invoice document
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`);
     * - the caller is bound to an active SUPPLIER, else `MemberUnauthorizedAccount(caller, SUPPLIER)`;
     * - `key`, `amount` and `documentHash` are not zero, else `InvoiceInvalidInput(field)`;
     *   `amount` fits 128 bits (`InvoiceInvalidInput("amount")`);
     * - `issueDate <= dueDate < 2^40`, else `InvoiceInvalidDates(issueDate, dueDate)`;
     * - `buyerId` is an active member other than the seller, else `InvoiceInvalidBuyer(buyerId)`;
     * - `key` was never registered, else `InvoiceAlreadyRegistered(key)`.
     *
     * Emits `InvoiceRegistered`.
     */
    function registerInvoice(
        bytes32 key,
        uint256 buyerId,
        uint256 amount,
        uint64 issueDate,
        uint64 dueDate,
        bytes32 documentHash
    ) external whenNotPaused {
        uint256 sellerId = _members.requireActiveMember(msg.sender, SUPPLIER);
        _registerInvoice(key, sellerId, buyerId, amount, issueDate, dueDate, documentHash);
    }

    /**
     * @notice The buyer confirms that it owes invoice `key` (确权).
     *
     * Requirements: not paused (`ConsortiumPaused`); the invoice exists (`InvoiceNotFound`); the
     * caller is bound to the buyer, which is active (`InvoiceUnauthorizedBuyer(caller, key,
     * buyerId)`, `MemberInvalidStatus`); the invoice is Registered, else
     * `InvoiceInvalidStatus(key, status)`.
     *
     * Emits `InvoiceConfirmed`.
     */
    function confirmInvoice(bytes32 key) external whenNotPaused {
        uint256 buyerId = _requireBuyer(key);
        _setStatus(key, InvoiceStatus.Registered, InvoiceStatus.Confirmed);
        emit InvoiceConfirmed(key, buyerId);
    }

    /**
     * @notice The buyer disputes invoice `key`; it can then only be cancelled by the seller.
     * @param reasonHash hash of the off-chain statement of the dispute (may be zero)
     *
     * Requirements: as `confirmInvoice`.
     *
     * Emits `InvoiceDisputed`.
     */
    function disputeInvoice(bytes32 key, bytes32 reasonHash) external whenNotPaused {
        uint256 buyerId = _requireBuyer(key);
        _setStatus(key, InvoiceStatus.Registered, InvoiceStatus.Disputed);
        emit InvoiceDisputed(key, buyerId, reasonHash);
    }

    /**
     * @notice The seller withdraws invoice `key` before it was confirmed. The key stays taken.
     *
     * Requirements: not paused (`ConsortiumPaused`); the invoice exists (`InvoiceNotFound`); the
     * caller is bound to the seller, which is active (`InvoiceUnauthorizedSeller(caller, key,
     * sellerId)`, `MemberInvalidStatus`); the invoice is Registered or Disputed, else
     * `InvoiceInvalidStatus(key, status)`.
     *
     * Emits `InvoiceCancelled`.
     */
    function cancelInvoice(bytes32 key) external whenNotPaused {
        StoredInvoice storage inv = _stored(key);
        uint256 sellerId = inv.sellerId;
        if (_members.requireActive(msg.sender) != sellerId) {
            revert InvoiceUnauthorizedSeller(msg.sender, key, sellerId);
        }
        InvoiceStatus status = inv.status;
        if (status != InvoiceStatus.Registered && status != InvoiceStatus.Disputed) {
            revert InvoiceInvalidStatus(key, status);
        }
        _setStatus(key, status, InvoiceStatus.Cancelled);
        emit InvoiceCancelled(key, sellerId);
    }

    // ---- system writes ----------------------------------------------------------------------

    /**
     * @inheritdoc IInvoiceRegistry
     * @dev Requirements: the caller is the wired CreditCertificates contract
     * (`InvoiceUnauthorizedCaller(caller)`); every invoice exists (`InvoiceNotFound`), is
     * Confirmed (`InvoiceInvalidStatus`; an invoice listed twice fails here the second time)
     * and is owed by `buyerId` to `sellerId` (`InvoicePartyMismatch(key, buyerId, sellerId)`).
     * The caller bounds `keys.length`.
     *
     * Emits `InvoiceAssigned` per invoice.
     */
    function assignInvoices(bytes32[] calldata keys, uint256 buyerId, uint256 sellerId, uint256 certificateId)
        external
        returns (uint256 total)
    {
        if (msg.sender != _certificates) revert InvoiceUnauthorizedCaller(msg.sender);
        for (uint256 i = 0; i < keys.length; ++i) {
            total += _assign(keys[i], buyerId, sellerId, certificateId);
        }
    }

    /**
     * @notice Wires the CreditCertificates contract, the only one allowed to assign invoices.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); not wired yet
     * (`InvoiceCertificatesAlreadySet(current)`); `certificates_` is not zero
     * (`ConsortiumZeroAddress`).
     *
     * Emits `InvoiceCertificatesSet`.
     */
    function setCertificates(address certificates_) external onlyGovernance {
        if (_certificates != address(0)) revert InvoiceCertificatesAlreadySet(_certificates);
        if (certificates_ == address(0)) revert ConsortiumZeroAddress();
        _certificates = certificates_;
        emit InvoiceCertificatesSet(certificates_);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @inheritdoc IInvoiceRegistry
    function getInvoice(bytes32 key) external view returns (Invoice memory) {
        StoredInvoice storage inv = _stored(key);
        return Invoice({
            key: key,
            sellerId: inv.sellerId,
            buyerId: inv.buyerId,
            amount: inv.amount,
            issueDate: inv.issueDate,
            dueDate: inv.dueDate,
            documentHash: inv.documentHash,
            status: inv.status,
            certificateId: inv.certificateId
        });
    }

    /// @inheritdoc IInvoiceRegistry
    function statusOf(bytes32 key) external view returns (InvoiceStatus) {
        return _invoices[key].status;
    }

    /// @inheritdoc IInvoiceRegistry
    function isRegistered(bytes32 key) external view returns (bool) {
        return _invoices[key].status != InvoiceStatus.None;
    }

    /// @inheritdoc IInvoiceRegistry
    function invoiceCount() external view returns (uint256) {
        return _invoiceCount;
    }

    /// @notice The member registry this registry asks about members.
    function memberRegistry() external view returns (address) {
        return address(_members);
    }

    /// @notice The CreditCertificates contract allowed to assign invoices (zero until wired).
    function certificates() external view returns (address) {
        return _certificates;
    }

    // ---- internals --------------------------------------------------------------------------

    function _registerInvoice(
        bytes32 key,
        uint256 sellerId,
        uint256 buyerId,
        uint256 amount,
        uint64 issueDate,
        uint64 dueDate,
        bytes32 documentHash
    ) internal {
        if (key == bytes32(0)) revert InvoiceInvalidInput("key");
        if (amount == 0 || amount > type(uint128).max) revert InvoiceInvalidInput("amount");
        if (documentHash == bytes32(0)) revert InvoiceInvalidInput("documentHash");
        if (issueDate > dueDate || dueDate > type(uint40).max) revert InvoiceInvalidDates(issueDate, dueDate);
        if (buyerId == sellerId || !_isActiveMember(buyerId)) revert InvoiceInvalidBuyer(buyerId);
        if (_invoices[key].status != InvoiceStatus.None) revert InvoiceAlreadyRegistered(key);

        _invoices[key] = StoredInvoice({
            sellerId: uint64(sellerId),
            buyerId: uint64(buyerId),
            issueDate: uint40(issueDate),
            dueDate: uint40(dueDate),
            status: InvoiceStatus.Registered,
            amount: uint128(amount),
            certificateId: 0,
            documentHash: documentHash
        });
        ++_invoiceCount;
        emit InvoiceRegistered(key, sellerId, buyerId, amount, issueDate, dueDate, documentHash);
    }

    function _assign(bytes32 key, uint256 buyerId, uint256 sellerId, uint256 certificateId)
        private
        returns (uint256 amount)
    {
        StoredInvoice storage inv = _stored(key);
        if (inv.buyerId != buyerId || inv.sellerId != sellerId) {
            revert InvoicePartyMismatch(key, inv.buyerId, inv.sellerId);
        }
        _setStatus(key, InvoiceStatus.Confirmed, InvoiceStatus.Assigned);
        inv.certificateId = uint64(certificateId);
        emit InvoiceAssigned(key, certificateId);
        return inv.amount;
    }

    /// @dev The one place where an invoice's status changes: from `from` to `to`.
    function _setStatus(bytes32 key, InvoiceStatus from, InvoiceStatus to) private {
        StoredInvoice storage inv = _invoices[key];
        InvoiceStatus current = inv.status;
        if (current != from) revert InvoiceInvalidStatus(key, current);
        inv.status = to;
    }

    /// @dev The buyer's member id of invoice `key` when the caller is bound to it and active.
    function _requireBuyer(bytes32 key) private view returns (uint256 buyerId) {
        buyerId = _stored(key).buyerId;
        if (_members.requireActive(msg.sender) != buyerId) {
            revert InvoiceUnauthorizedBuyer(msg.sender, key, buyerId);
        }
    }

    function _stored(bytes32 key) private view returns (StoredInvoice storage inv) {
        inv = _invoices[key];
        if (inv.status == InvoiceStatus.None) revert InvoiceNotFound(key);
    }

    function _isActiveMember(uint256 memberId) private view returns (bool) {
        if (memberId == 0 || memberId > _members.memberCount()) return false;
        return _members.getMember(memberId).status == IMemberRegistry.MemberStatus.Active;
    }
}
