// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICreditCertificates} from "../interfaces/ICreditCertificates.sol";
import {ICreditLines} from "../interfaces/ICreditLines.sol";
import {IInvoiceRegistry} from "../interfaces/IInvoiceRegistry.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {IConsortiumGovernance} from "../interfaces/IConsortiumGovernance.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";
import {ConsortiumUpgradeable} from "../governance/ConsortiumUpgradeable.sol";

/**
 * @title CreditCertificates
 * @notice A CORE_ENTERPRISE issues a root certificate to a SUPPLIER against confirmed invoices
 * it owes that supplier (they become Assigned), drawing the face value on one of its credit
 * lines. Holders pass value on by split transfer to active SUPPLIER or FINANCIER members.
 *
 * Escrow (lock / unlock / settle) belongs to the FinancingHub; repayment and redemption are
 * recorded here by the Maturity contract, which moves the settlement tokens. Both are wired
 * once by governance.
 *
 * Rules: locked value does not move; a suspended holder's certificates are frozen for trading
 * (split, financing) but a suspended issuer still repays and a suspended holder still redeems:
 * suspension never freezes money that is owed. Nothing moves at or after maturity. Every piece
 * a split or an escrow leaves (the new certificate or locked part, and a non-zero unlocked
 * rest) is at least the governance parameter `MIN_SPLIT` (0 = no minimum), so however the
 * escrows of a certificate end, no piece below `MIN_SPLIT` remains. A root is redeemable,
 * certificate by certificate, once repaid and matured.
 *
 * @dev Every write is O(1): a split touches the source, the new child and one lineage slot.
 * Ids (certificates, members, lines) are stored in 48 bits and amounts in 128 bits; member and
 * line ids come from registries that count from 1, amounts are bounded by the face value.
 */
contract CreditCertificates is ICreditCertificates, ConsortiumUpgradeable {
    /// @notice Most invoices one certificate may be backed by.
    uint256 public constant MAX_INVOICES = 32;
    /// @notice Governance parameter: smallest piece a split may leave, minor units (0 = none).
    bytes32 public constant MIN_SPLIT = keccak256("MIN_SPLIT");

    /// @dev Packed certificate: slot 0 is written at creation (childCount grows), slot 1 moves.
    struct StoredCertificate {
        uint48 rootId;
        uint48 parentId;
        uint48 holderId;
        uint48 childCount;
        uint40 createdAt;
        uint24 depth;
        uint128 value;
        uint128 locked;
    }

    struct StoredRoot {
        uint48 issuerId;
        uint48 lineId;
        uint40 maturity;
        uint40 issuedAt;
        uint40 repaidAt;
        uint128 faceValue;
        uint128 redeemedValue;
    }

    struct Redemption {
        uint128 value;
        uint40 at;
    }

    IMemberRegistry private immutable _members;
    IInvoiceRegistry private immutable _invoices;
    ICreditLines private immutable _lines;
    address internal _financingHub;
    address internal _maturity;

    mapping(uint256 => StoredCertificate) internal _certificates;
    mapping(uint256 => StoredRoot) internal _roots;
    mapping(uint256 => mapping(uint256 => uint256)) internal _children; // id => index => child id
    mapping(uint256 => Redemption) internal _redemptions;
    uint256 internal _certificateCount;

    /// @param governance_ the ConsortiumGovernance contract
    /// @param members_ the MemberRegistry
    /// @param invoices_ the InvoiceRegistry (must wire this contract with `setCertificates`)
    /// @param lines_ the CreditLines (must wire this contract with `setCertificates`)
    constructor(address governance_, address members_, address invoices_, address lines_)
        ConsortiumManaged(governance_)
    {
        if (members_ == address(0) || invoices_ == address(0) || lines_ == address(0)) {
            revert ConsortiumZeroAddress();
        }
        _members = IMemberRegistry(members_);
        _invoices = IInvoiceRegistry(invoices_);
        _lines = ICreditLines(lines_);
    }

    modifier onlyFinancingHub() {
        if (msg.sender != _financingHub) revert CertificateUnauthorizedCaller(msg.sender);
        _;
    }

    modifier onlyMaturity() {
        if (msg.sender != _maturity) revert CertificateUnauthorizedCaller(msg.sender);
        _;
    }

    // ---- member writes ----------------------------------------------------------------------

    /**
     * @notice The caller's CORE_ENTERPRISE issues a root certificate to supplier `holderId`.
     * @param holderId the supplier the invoices are owed to, an active SUPPLIER
     * @param faceValue the certificate's value, minor units
     * @param maturity when the issuer repays (unix seconds)
     * @param lineId one of the issuer's credit lines, drawn by `faceValue`
     * @param invoiceKeys 1..`MAX_INVOICES` confirmed invoices the issuer owes `holderId`,
     * totalling at least `faceValue`; they become Assigned to this certificate
     * @return id the new certificate's id, which is also its root id
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`);
     * - the caller is bound to an active CORE_ENTERPRISE, else
     *   `MemberUnauthorizedAccount(caller, CORE_ENTERPRISE)`;
     * - `holderId` is an active SUPPLIER other than the issuer (`CertificateInvalidRecipient`);
     * - `0 < faceValue < 2^128` (`CertificateInvalidAmount`); `now < maturity < 2^40`
     *   (`CertificateInvalidMaturity`);
     * - 1..`MAX_INVOICES` keys (`CertificateInvalidInvoiceCount(count, MAX_INVOICES)`), each
     *   Confirmed and owed by the issuer to `holderId` (InvoiceRegistry's `InvoiceNotFound`,
     *   `InvoiceInvalidStatus`, `InvoicePartyMismatch`), totalling at least `faceValue`
     *   (`CertificateInsufficientBacking(total, faceValue)`);
     * - the line can lend `faceValue` (CreditLines' `CreditLineNotFound`,
     *   `CreditLineNotBorrower`, `CreditLineInvalidStatus`, `CreditLineExpired`,
     *   `CreditLineInsufficientAvailable`).
     *
     * Emits `CertificateIssued`, and through the other contracts `InvoiceAssigned` per invoice
     * and `CreditLineDrawn`.
     */
    function issueCertificate(
        uint256 holderId,
        uint256 faceValue,
        uint64 maturity,
        uint256 lineId,
        bytes32[] calldata invoiceKeys
    ) external whenNotPaused returns (uint256 id) {
        uint256 issuerId = _members.requireActiveMember(msg.sender, CORE_ENTERPRISE);
        return _issue(issuerId, holderId, faceValue, maturity, lineId, invoiceKeys);
    }

    /**
     * @notice Sends `amount` of certificate `id` to member `toId`: a new certificate of `toId`
     * with parent `id` and the same root; `id` keeps the rest.
     * @return childId the new certificate's id
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`); the certificate exists (`CertificateNotFound`);
     * - the caller is bound to an active member (`MemberUnknownAccount`, `MemberInvalidStatus`
     *   for a suspended, frozen holder) that holds it
     *   (`CertificateUnauthorizedHolder(caller, id, holderId)`);
     * - before maturity, else `CertificateMatured(id, maturity)`;
     * - `toId` is an active SUPPLIER or FINANCIER other than the holder
     *   (`CertificateInvalidRecipient(toId)`);
     * - `amount > 0` (`CertificateInvalidAmount`), at most the value
     *   (`CertificateInsufficientValue(id, value, amount)`) and not escrowed
     *   (`CertificateLocked(id, locked)`);
     * - `amount` and a non-zero unescrowed rest (`value - locked - amount`) are at least
     *   `MIN_SPLIT` (`CertificateBelowMinimumSplit(piece, minimum)`).
     *
     * Emits `CertificateSplit`.
     */
    function splitTransfer(uint256 id, uint256 toId, uint256 amount)
        external
        whenNotPaused
        returns (uint256 childId)
    {
        StoredCertificate storage c = _stored(id);
        uint256 holderId = c.holderId;
        _requireHolderAccount(id, holderId, msg.sender);
        _requireMovable(id, c, amount);
        _requireRecipient(toId, holderId);
        return _split(id, c, toId, amount);
    }

    // ---- FinancingHub writes ----------------------------------------------------------------

    /**
     * @inheritdoc ICreditCertificates
     * @dev Requirements: the caller is the FinancingHub (`CertificateUnauthorizedCaller`); the
     * certificate exists (`CertificateNotFound`); `account` is bound to its active holder (as in
     * `splitTransfer`); before maturity (`CertificateMatured`); `amount` is positive, within the
     * unescrowed value and respects `MIN_SPLIT` (as in `splitTransfer`).
     *
     * Emits `CertificateValueLocked`.
     */
    function lockValue(uint256 id, address account, uint256 amount)
        external
        onlyFinancingHub
        returns (uint256 holderId)
    {
        StoredCertificate storage c = _stored(id);
        holderId = c.holderId;
        _requireHolderAccount(id, holderId, account);
        _requireMovable(id, c, amount);
        uint256 locked = c.locked + amount;
        c.locked = uint128(locked);
        emit CertificateValueLocked(id, amount, locked);
    }

    /**
     * @inheritdoc ICreditCertificates
     * @dev Requirements: the caller is the FinancingHub (`CertificateUnauthorizedCaller`); the
     * certificate exists (`CertificateNotFound`); `amount` is at most the escrowed value
     * (`CertificateInsufficientLocked(id, locked, amount)`). Works at any time, for any holder.
     *
     * Emits `CertificateValueUnlocked`.
     */
    function unlockValue(uint256 id, uint256 amount) external onlyFinancingHub {
        _unlock(id, _stored(id), amount);
    }

    /**
     * @inheritdoc ICreditCertificates
     * @dev Requirements: the caller is the FinancingHub (`CertificateUnauthorizedCaller`); the
     * certificate exists (`CertificateNotFound`); before maturity (`CertificateMatured`); its
     * holder is active (`CertificateHolderFrozen(id, holderId)`); `toId` is an active SUPPLIER or
     * FINANCIER other than the holder (`CertificateInvalidRecipient`); `amount` is escrowed
     * (`CertificateInsufficientLocked`). `MIN_SPLIT` was checked when the value was locked.
     *
     * Emits `CertificateValueUnlocked` and `CertificateSplit`.
     */
    function settleLocked(uint256 id, uint256 amount, uint256 toId)
        external
        onlyFinancingHub
        returns (uint256 childId)
    {
        StoredCertificate storage c = _stored(id);
        uint256 holderId = c.holderId;
        _requireNotMatured(id, c);
        if (_members.getMember(holderId).status != IMemberRegistry.MemberStatus.Active) {
            revert CertificateHolderFrozen(id, holderId);
        }
        _requireRecipient(toId, holderId);
        _unlock(id, c, amount);
        return _split(id, c, toId, amount);
    }

    // ---- Maturity writes --------------------------------------------------------------------

    /**
     * @inheritdoc ICreditCertificates
     * @dev Requirements: the caller is the Maturity contract (`CertificateUnauthorizedCaller`);
     * `rootId` is a root (`CertificateNotFound`, `CertificateNotRoot`); `account` is bound to
     * the issuer, active or suspended (`CertificateUnauthorizedIssuer(account, rootId,
     * issuerId)`); not repaid yet (`CertificateRootAlreadyRepaid`). Repayment may come early or
     * late.
     *
     * Emits `RootRepaid`, and through CreditLines `CreditLineRestored`.
     */
    function recordRepayment(uint256 rootId, address account) external onlyMaturity returns (uint256 amount) {
        StoredRoot storage r = _storedRoot(rootId);
        uint256 issuerId = r.issuerId;
        if (_members.memberOf(account) != issuerId) {
            revert CertificateUnauthorizedIssuer(account, rootId, issuerId);
        }
        if (r.repaidAt != 0) revert CertificateRootAlreadyRepaid(rootId);
        r.repaidAt = uint40(block.timestamp);
        amount = r.faceValue;
        uint256 lineId = r.lineId;
        emit RootRepaid(rootId, issuerId, amount, lineId);
        _lines.restore(lineId, amount, rootId);
    }

    /**
     * @inheritdoc ICreditCertificates
     * @dev Requirements: the caller is the Maturity contract (`CertificateUnauthorizedCaller`);
     * the certificate exists (`CertificateNotFound`); `account` is bound to its holder, active
     * or suspended (`CertificateUnauthorizedHolder(account, id, holderId)`); its root is repaid (`CertificateRootNotRepaid(rootId)`); it has
     * matured (`CertificateNotMatured(id, maturity)`); nothing is escrowed
     * (`CertificateLocked(id, locked)`); it holds value (`CertificateNothingToRedeem(id)`).
     *
     * Emits `CertificateRedeemed`.
     */
    function recordRedemption(uint256 id, address account) external onlyMaturity returns (uint256 amount) {
        StoredCertificate storage c = _stored(id);
        uint256 holderId = c.holderId;
        if (_members.memberOf(account) != holderId) revert CertificateUnauthorizedHolder(account, id, holderId);
        uint256 rootId = c.rootId;
        StoredRoot storage r = _roots[rootId];
        if (r.repaidAt == 0) revert CertificateRootNotRepaid(rootId);
        if (block.timestamp < r.maturity) revert CertificateNotMatured(id, r.maturity);
        if (c.locked != 0) revert CertificateLocked(id, c.locked);
        amount = c.value;
        if (amount == 0) revert CertificateNothingToRedeem(id);
        c.value = 0;
        r.redeemedValue += uint128(amount);
        _redemptions[id] = Redemption({value: uint128(amount), at: uint40(block.timestamp)});
        emit CertificateRedeemed(id, rootId, holderId, amount);
    }

    // ---- governance writes ------------------------------------------------------------------

    /**
     * @notice Wires the FinancingHub, the only contract that escrows value.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); not wired yet
     * (`CertificateSystemAlreadySet(current)`); not zero (`ConsortiumZeroAddress`).
     *
     * Emits `CertificateFinancingHubSet`.
     */
    function setFinancingHub(address financingHub_) external onlyGovernance {
        _requireUnset(_financingHub, financingHub_);
        _financingHub = financingHub_;
        emit CertificateFinancingHubSet(financingHub_);
    }

    /**
     * @notice Wires the Maturity contract, the only one that records repayments and redemptions.
     *
     * Requirements: as `setFinancingHub`.
     *
     * Emits `CertificateMaturitySet`.
     */
    function setMaturity(address maturity_) external onlyGovernance {
        _requireUnset(_maturity, maturity_);
        _maturity = maturity_;
        emit CertificateMaturitySet(maturity_);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @inheritdoc ICreditCertificates
    function getCertificate(uint256 id) external view returns (Certificate memory cert) {
        StoredCertificate storage c = _stored(id);
        StoredRoot storage r = _roots[c.rootId];
        Redemption storage red = _redemptions[id];
        cert.id = id;
        cert.rootId = c.rootId;
        cert.parentId = c.parentId;
        cert.issuerId = r.issuerId;
        cert.holderId = c.holderId;
        cert.value = c.value;
        cert.locked = c.locked;
        cert.redeemedValue = red.value;
        cert.maturity = r.maturity;
        cert.createdAt = c.createdAt;
        cert.redeemedAt = red.at;
        cert.depth = c.depth;
        cert.childCount = c.childCount;
    }

    /// @inheritdoc ICreditCertificates
    function getRoot(uint256 rootId) external view returns (Root memory) {
        StoredRoot storage r = _storedRoot(rootId);
        return Root({
            id: rootId,
            issuerId: r.issuerId,
            lineId: r.lineId,
            faceValue: r.faceValue,
            redeemedValue: r.redeemedValue,
            maturity: r.maturity,
            issuedAt: r.issuedAt,
            repaidAt: r.repaidAt
        });
    }

    /// @notice The holder (member id) of certificate `id`. Reverts `CertificateNotFound`.
    function holderOf(uint256 id) external view returns (uint256) {
        return _stored(id).holderId;
    }

    /// @notice The live value of certificate `id`, escrow included. Reverts `CertificateNotFound`.
    function valueOf(uint256 id) external view returns (uint256) {
        return _stored(id).value;
    }

    /// @notice The escrowed part of certificate `id`'s value. Reverts `CertificateNotFound`.
    function lockedOf(uint256 id) external view returns (uint256) {
        return _stored(id).locked;
    }

    /// @inheritdoc ICreditCertificates
    function maturityOf(uint256 id) external view returns (uint64) {
        return _roots[_stored(id).rootId].maturity;
    }

    /// @notice The parent of certificate `id`, 0 for a root. Reverts `CertificateNotFound`.
    function parentOf(uint256 id) external view returns (uint256) {
        return _stored(id).parentId;
    }

    /// @notice The root of certificate `id` (itself for a root). Reverts `CertificateNotFound`.
    function rootOf(uint256 id) external view returns (uint256) {
        return _stored(id).rootId;
    }

    /// @notice How many certificates were split off certificate `id`. Reverts `CertificateNotFound`.
    function childCount(uint256 id) external view returns (uint256) {
        return _stored(id).childCount;
    }

    /// @notice The `index`-th certificate split off `id` (in order). Reverts
    /// `CertificateNotFound` when `id` does not exist, `CertificateChildNotFound(id, index)` when
    /// `index >= childCount(id)`.
    function childAt(uint256 id, uint256 index) external view returns (uint256) {
        _stored(id);
        uint256 child = _children[id][index];
        if (child == 0) revert CertificateChildNotFound(id, index);
        return child;
    }

    /// @notice True once root `rootId` was repaid. Reverts like `getRoot`.
    function isRepaid(uint256 rootId) external view returns (bool) {
        return _storedRoot(rootId).repaidAt != 0;
    }

    /// @notice The governance minimum split now (0 = none).
    function minSplit() public view returns (uint256) {
        return IConsortiumGovernance(governance()).parameter(MIN_SPLIT);
    }

    /// @inheritdoc ICreditCertificates
    function certificateCount() external view returns (uint256) {
        return _certificateCount;
    }

    /// @notice The wired FinancingHub and Maturity contracts (zero until wired).
    function systemContracts() external view returns (address financingHub, address maturity) {
        return (_financingHub, _maturity);
    }

    // ---- internals --------------------------------------------------------------------------

    function _issue(
        uint256 issuerId,
        uint256 holderId,
        uint256 faceValue,
        uint64 maturity,
        uint256 lineId,
        bytes32[] calldata invoiceKeys
    ) internal returns (uint256 id) {
        if (holderId == issuerId || !_members.hasActiveRole(holderId, SUPPLIER)) {
            revert CertificateInvalidRecipient(holderId);
        }
        if (faceValue == 0 || faceValue > type(uint128).max) revert CertificateInvalidAmount(faceValue);
        if (maturity <= block.timestamp || maturity > type(uint40).max) revert CertificateInvalidMaturity(maturity);
        uint256 count = invoiceKeys.length;
        if (count == 0 || count > MAX_INVOICES) revert CertificateInvalidInvoiceCount(count, MAX_INVOICES);

        id = ++_certificateCount;
        _certificates[id] = StoredCertificate({
            rootId: uint48(id),
            parentId: 0,
            holderId: uint48(holderId),
            childCount: 0,
            createdAt: uint40(block.timestamp),
            depth: 0,
            value: uint128(faceValue),
            locked: 0
        });
        _roots[id] = StoredRoot({
            issuerId: uint48(issuerId),
            lineId: uint48(lineId),
            maturity: uint40(maturity),
            issuedAt: uint40(block.timestamp),
            repaidAt: 0,
            faceValue: uint128(faceValue),
            redeemedValue: 0
        });
        emit CertificateIssued(id, issuerId, holderId, lineId, faceValue, maturity, invoiceKeys);

        uint256 backing = _invoices.assignInvoices(invoiceKeys, issuerId, holderId, id);
        if (backing < faceValue) revert CertificateInsufficientBacking(backing, faceValue);
        _lines.draw(lineId, issuerId, faceValue, id);
    }

    /// @dev The one place where value moves: `amount` of `c` (id `sourceId`) to a new child.
    function _split(uint256 sourceId, StoredCertificate storage c, uint256 toId, uint256 amount)
        private
        returns (uint256 childId)
    {
        childId = ++_certificateCount;
        uint256 rootId = c.rootId;
        uint256 rest = c.value - amount;
        uint256 index = c.childCount;
        c.value = uint128(rest);
        c.childCount = uint48(index + 1);
        _children[sourceId][index] = childId;
        _certificates[childId] = StoredCertificate({
            rootId: uint48(rootId),
            parentId: uint48(sourceId),
            holderId: uint48(toId),
            childCount: 0,
            createdAt: uint40(block.timestamp),
            depth: c.depth + 1,
            value: uint128(amount),
            locked: 0
        });
        emit CertificateSplit(sourceId, childId, rootId, c.holderId, toId, amount, rest);
    }

    function _unlock(uint256 id, StoredCertificate storage c, uint256 amount) private {
        uint256 locked = c.locked;
        if (amount > locked) revert CertificateInsufficientLocked(id, locked, amount);
        locked -= amount;
        c.locked = uint128(locked);
        emit CertificateValueUnlocked(id, amount, locked);
    }

    /// @dev `amount` of `c` may leave it now (split off or escrowed): before maturity,
    /// unescrowed, within `MIN_SPLIT`. The rest that stays free must be zero or at least
    /// `MIN_SPLIT` too: with every escrowed part at least `MIN_SPLIT` as well, whichever
    /// escrows settle or unlock, no piece below the minimum is left.
    function _requireMovable(uint256 id, StoredCertificate storage c, uint256 amount) private view {
        _requireNotMatured(id, c);
        if (amount == 0) revert CertificateInvalidAmount(amount);
        uint256 value = c.value;
        if (amount > value) revert CertificateInsufficientValue(id, value, amount);
        uint256 locked = c.locked;
        if (amount > value - locked) revert CertificateLocked(id, locked);
        uint256 minimum = minSplit();
        if (minimum != 0) {
            if (amount < minimum) revert CertificateBelowMinimumSplit(amount, minimum);
            uint256 rest = value - locked - amount;
            if (rest != 0 && rest < minimum) revert CertificateBelowMinimumSplit(rest, minimum);
        }
    }

    function _requireNotMatured(uint256 id, StoredCertificate storage c) private view {
        uint64 maturity = _roots[c.rootId].maturity;
        if (block.timestamp >= maturity) revert CertificateMatured(id, maturity);
    }

    /// @dev `account` is bound to the active member `holderId` (suspended holders are frozen).
    function _requireHolderAccount(uint256 id, uint256 holderId, address account) private view {
        if (_members.requireActive(account) != holderId) {
            revert CertificateUnauthorizedHolder(account, id, holderId);
        }
    }

    function _requireRecipient(uint256 toId, uint256 holderId) private view {
        if (toId == holderId || !(_members.hasActiveRole(toId, SUPPLIER) || _members.hasActiveRole(toId, FINANCIER))) {
            revert CertificateInvalidRecipient(toId);
        }
    }

    function _requireUnset(address current, address next) private pure {
        if (current != address(0)) revert CertificateSystemAlreadySet(current);
        if (next == address(0)) revert ConsortiumZeroAddress();
    }

    function _stored(uint256 id) private view returns (StoredCertificate storage c) {
        c = _certificates[id];
        if (c.rootId == 0) revert CertificateNotFound(id);
    }

    function _storedRoot(uint256 rootId) private view returns (StoredRoot storage r) {
        StoredCertificate storage c = _stored(rootId);
        if (c.parentId != 0) revert CertificateNotRoot(rootId);
        r = _roots[rootId];
    }
}
