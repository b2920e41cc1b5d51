// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInvoiceRegistry} from "../interfaces/IInvoiceRegistry.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {IConsortiumGovernance} from "../interfaces/IConsortiumGovernance.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";
import {ConsortiumUpgradeable} from "../governance/ConsortiumUpgradeable.sol";

/**
 * @title InvoiceRegistry
 * @notice Invoice anchors: an active SUPPLIER (the seller) registers an invoice it issued to
 * another member (the buyer); the buyer confirms the payable (确权) or disputes it; the seller
 * may cancel it before confirmation. Confirmed invoices back credit certificates: the
 * CreditCertificates contract (wired once by governance) marks them Assigned.
 *
 * The registry derives each key itself from the caller's registered credit-code hash and the
 * canonical invoice code and number (`deriveInvoiceKey`); no caller supplies a key, so a
 * seller registers only its own invoices and one invoice has one key. A key is registered at
 * most once, ever; a cancelled invoice keeps its key taken.
 *
 * Plausibility: the issue date is not later than today in any time zone (it may be up to
 * `ISSUE_DATE_TOLERANCE` after the block time, the offset of UTC+14); the due date is after
 * it by at most the governance parameter `INVOICE_MAX_TENOR` (seconds; 0 = unset =
 * `DEFAULT_MAX_TENOR`).
 */
contract InvoiceRegistry is IInvoiceRegistry, ConsortiumUpgradeable {
    /// @notice Governance parameter: the longest tenor (due date - issue date) in seconds.
    bytes32 public constant INVOICE_MAX_TENOR = keccak256("INVOICE_MAX_TENOR");
    /// @notice The maximum tenor while `INVOICE_MAX_TENOR` is unset: one year.
    uint256 public constant DEFAULT_MAX_TENOR = 365 days;
    /// @notice How far after the block time an issue date (00:00 UTC of its day) may be: the
    /// day is "today" somewhere as long as it has begun in UTC+14.
    uint256 public constant ISSUE_DATE_TOLERANCE = 14 hours;

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
    address internal _certificates;
    mapping(bytes32 => StoredInvoice) internal _invoices;
    uint256 internal _invoiceCount;

    /// @param governance_ the ConsortiumGovernance contract
    /// @param members_ the MemberRegistry
    constructor(address governance_, address members_) ConsortiumManaged(governance_) {
        if (members_ == address(0)) revert ConsortiumZeroAddress();
        _members = IMemberRegistry(members_);
    }

    // ---- member writes ----------------------------------------------------------------------

    /**
     * @notice Registers the anchor of invoice (`invoiceCode`, `invoiceNumber`) that the
     * caller's member issued to `buyerId`; its key is derived from the caller's credit-code
     * hash and these two (`deriveInvoiceKey`).
     * @param invoiceCode 发票代码: 10 or 12 ASCII digits for a VAT invoice, empty for a fully
     * digital e-invoice
     * @param invoiceNumber 发票号码: 8 ASCII digits for a VAT invoice, 20 for a fully digital one
     * @param buyerId the member that owes the invoice
     * @param amount the amount in minor units (fen), > 0
     * @param issueDate issue date, unix seconds (00:00 UTC of the issue day)
     * @param dueDate due date, unix seconds, after `issueDate`
     * @param documentHash hash of the invoice document stored on the platform
     * @return key the invoice's key
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`);
     * - the caller is bound to an active SUPPLIER, else `MemberUnauthorizedAccount(caller, SUPPLIER)`;
     * - the code and number are canonical, else `InvoiceInvalidIdentity(invoiceCode, invoiceNumber)`;
     * - `amount` and `documentHash` are not zero, else `InvoiceInvalidInput(field)`;
     *   `amount` fits 128 bits (`InvoiceInvalidInput("amount")`);
     * - `issueDate <= now + ISSUE_DATE_TOLERANCE`, else `InvoiceIssueDateInFuture(issueDate)`;
     * - `issueDate < dueDate < 2^40`, else `InvoiceInvalidDates(issueDate, dueDate)`;
     * - `dueDate - issueDate <= maxTenor()`, else `InvoiceTenorTooLong(issueDate, dueDate, maxTenor)`;
     * - `buyerId` is an active member other than the seller, else `InvoiceInvalidBuyer(buyerId)`;
     * - the key was never registered, else `InvoiceAlreadyRegistered(key)`.
     *
     * Emits `InvoiceRegistered`.
     */
    function registerInvoice(
        string calldata invoiceCode,
        string calldata invoiceNumber,
        uint256 buyerId,
        uint256 amount,
        uint64 issueDate,
        uint64 dueDate,
        bytes32 documentHash
    ) external whenNotPaused returns (bytes32 key) {
        uint256 sellerId = _members.requireActiveMember(msg.sender, SUPPLIER);
        key = deriveInvoiceKey(_members.getMember(sellerId).creditCodeHash, invoiceCode, invoiceNumber);
        _registerInvoice(key, sellerId, buyerId, amount, issueDate, dueDate, documentHash);
        _emitRegistered(key, invoiceCode, invoiceNumber);
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
     * @notice The seller withdraws invoice `key` before it was confirmed. Cancelled is final:
     * the key stays taken, so the invoice can never be registered again nor back a
     * certificate (a corrected invoice is a new invoice, with a new number).
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

    /**
     * @inheritdoc IInvoiceRegistry
     * @dev `keccak256(abi.encode(sellerCreditCodeHash, invoiceCode, invoiceNumber))`: ABI
     * encoding keeps the parts apart, so a 12-digit code with an 8-digit number and a 20-digit
     * number without code never meet.
     */
    function deriveInvoiceKey(bytes32 sellerCreditCodeHash, string calldata invoiceCode, string calldata invoiceNumber)
        public
        pure
        returns (bytes32)
    {
        if (!_isCanonical(bytes(invoiceCode), bytes(invoiceNumber))) {
            revert InvoiceInvalidIdentity(invoiceCode, invoiceNumber);
        }
        return keccak256(abi.encode(sellerCreditCodeHash, invoiceCode, invoiceNumber));
    }

    /// @notice The longest tenor (due date - issue date) an invoice may have now, in seconds.
    function maxTenor() public view returns (uint256 seconds_) {
        seconds_ = IConsortiumGovernance(governance()).parameter(INVOICE_MAX_TENOR);
        if (seconds_ == 0) seconds_ = DEFAULT_MAX_TENOR;
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
        if (amount == 0 || amount > type(uint128).max) revert InvoiceInvalidInput("amount");
        if (documentHash == bytes32(0)) revert InvoiceInvalidInput("documentHash");
        if (issueDate > block.timestamp + ISSUE_DATE_TOLERANCE) revert InvoiceIssueDateInFuture(issueDate);
        if (issueDate >= dueDate || dueDate > type(uint40).max) revert InvoiceInvalidDates(issueDate, dueDate);
        uint256 tenorLimit = maxTenor();
        if (dueDate - issueDate > tenorLimit) revert InvoiceTenorTooLong(issueDate, dueDate, tenorLimit);
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
    }

    /// @dev `InvoiceRegistered` from the stored invoice (a function of its own: fewer stack slots).
    function _emitRegistered(bytes32 key, string calldata invoiceCode, string calldata invoiceNumber) private {
        StoredInvoice storage inv = _invoices[key];
        emit InvoiceRegistered(
            key,
            inv.sellerId,
            inv.buyerId,
            inv.amount,
            inv.issueDate,
            inv.dueDate,
            inv.documentHash,
            invoiceCode,
            invoiceNumber
        );
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

    /// @dev A VAT invoice (code of 10 or 12 digits, number of 8) or a fully digital e-invoice
    /// (no code, number of 20 digits); digits are ASCII '0'-'9' only.
    function _isCanonical(bytes calldata code, bytes calldata number) private pure returns (bool) {
        uint256 codeLength = code.length;
        uint256 numberLength = number.length;
        bool shaped = codeLength == 0 ? numberLength == 20 : (codeLength == 10 || codeLength == 12) && numberLength == 8;
        return shaped && _allDigits(code) && _allDigits(number);
    }

    function _allDigits(bytes calldata text) private pure returns (bool) {
        for (uint256 i = 0; i < text.length; ++i) {
            if (text[i] < 0x30 || text[i] > 0x39) return false;
        }
        return true;
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
