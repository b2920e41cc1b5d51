// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IMemberAccountListener, IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";

/**
 * @title MemberRegistry
 * @notice The consortium's members. Governance admits, suspends and reinstates members,
 * grants and revokes their roles and manages the signing accounts bound to them (several per
 * member, at most `MAX_ACCOUNTS`). Business contracts ask `requireActiveMember(account, role)`.
 *
 * The unified social credit code is validated off chain; only its hash is stored, and it is
 * unique. Writes do not honour the global pause: governance must work while paused.
 */
contract MemberRegistry is IMemberRegistry, ConsortiumManaged {
    /// @notice Most signing accounts one member may have bound at a time.
    uint256 public constant MAX_ACCOUNTS = 8;

    /// @dev Member `memberId` holds `role` already.
    error MemberRoleAlreadyGranted(uint256 memberId, bytes32 role);
    /// @dev Member `memberId` does not hold `role`.
    error MemberRoleNotGranted(uint256 memberId, bytes32 role);

    // Internal, not private, so that the importer of a pre-proxy consortium's registry can
    // write them (contracts/src/migration/RegistryImporters.sol); nothing else does.
    mapping(uint256 => Member) internal _members;
    uint256 internal _memberCount;
    mapping(bytes32 => uint256) internal _memberByCreditCode;
    mapping(address => uint256) internal _memberOf;
    mapping(uint256 => address[]) internal _accounts; // at most MAX_ACCOUNTS each
    mapping(address => uint256) internal _accountSlot; // index in _accounts[member] + 1
    address private _accountListener; // the SettlementToken: balances follow the member

    /// @param governance_ the ConsortiumGovernance contract, the only writer
    constructor(address governance_) ConsortiumManaged(governance_) {}

    // ---- governance writes ------------------------------------------------------------------

    /**
     * @notice Admits a company as a new, active member with its first signing account.
     * @param name the company's name
     * @param creditCodeHash hash of its unified social credit code (validated off chain)
     * @param roles one or more of CORE_ENTERPRISE, SUPPLIER, FINANCIER, AUDITOR
     * @param account its first signing account
     * @param certificateFingerprint SHA-256 of its X.509 certificate (may be zero)
     * @return memberId the new member's id (ids run from 1)
     *
     * Requirements:
     * - the caller is governance, else `ConsortiumUnauthorizedGovernance(caller)`;
     * - `name`, `creditCodeHash`, `account` and `roles` are not empty or zero, else
     *   `MemberInvalidInput(field)`; every role is known, else `MemberUnknownRole(role)`;
     * - no member has this credit-code hash (`MemberAlreadyRegistered(hash, memberId)`);
     * - `account` is not bound to a member (`MemberAccountAlreadyBound(account, memberId)`).
     *
     * Emits `MemberAdmitted`, `MemberAccountBound` and, for a non-zero fingerprint,
     * `MemberCertificateUpdated`.
     */
    function admitMember(
        string calldata name,
        bytes32 creditCodeHash,
        bytes32[] calldata roles,
        address account,
        bytes32 certificateFingerprint
    ) external onlyGovernance returns (uint256 memberId) {
        return _admitMember(name, creditCodeHash, roles, account, certificateFingerprint);
    }

    /**
     * @notice Suspends an active member: its accounts stop passing membership checks.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`) and is Active, else `MemberInvalidStatus(memberId, status)`.
     *
     * Emits `MemberSuspended`.
     */
    function suspendMember(uint256 memberId) external onlyGovernance {
        _setStatus(memberId, MemberStatus.Active, MemberStatus.Suspended);
    }

    /**
     * @notice Reinstates a suspended member.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`) and is Suspended, else `MemberInvalidStatus(memberId, status)`.
     *
     * Emits `MemberReinstated`.
     */
    function reinstateMember(uint256 memberId) external onlyGovernance {
        _setStatus(memberId, MemberStatus.Suspended, MemberStatus.Active);
    }

    /**
     * @notice Grants a role to a member.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`); the role is known (`MemberUnknownRole`) and not yet held
     * (`MemberRoleAlreadyGranted(memberId, role)`).
     *
     * Emits `MemberRoleGranted`.
     */
    function grantRole(uint256 memberId, bytes32 role) external onlyGovernance {
        _grantRole(memberId, role);
    }

    /**
     * @notice Revokes a role from a member (a member may end up with no role).
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`); the role is known (`MemberUnknownRole`) and held
     * (`MemberRoleNotGranted(memberId, role)`).
     *
     * Emits `MemberRoleRevoked`.
     */
    function revokeRole(uint256 memberId, bytes32 role) external onlyGovernance {
        _revokeRole(memberId, role);
    }

    /**
     * @notice Binds another signing account to a member.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`); `account` is not zero (`MemberInvalidInput("account")`) and
     * not bound (`MemberAccountAlreadyBound(account, memberId)`); the member has fewer than
     * `MAX_ACCOUNTS` accounts (`MemberAccountLimit(memberId, MAX_ACCOUNTS)`).
     *
     * Emits `MemberAccountBound`.
     */
    function bindAccount(uint256 memberId, address account) external onlyGovernance {
        _requireMember(memberId);
        _requireBindable(account);
        if (_accounts[memberId].length >= MAX_ACCOUNTS) revert MemberAccountLimit(memberId, MAX_ACCOUNTS);
        _bind(memberId, account);
    }

    /**
     * @notice Unbinds a signing account from a member.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`); `account` is bound to it (`MemberAccountNotBound(account,
     * memberId)`) and is not its last account (`MemberAccountLimit(memberId, MAX_ACCOUNTS)`).
     *
     * The account listener (the SettlementToken) moves the account's balance to the member's
     * first remaining account in the same transaction.
     *
     * Emits `MemberAccountUnbound` (and, through the listener, its own events).
     */
    function unbindAccount(uint256 memberId, address account) external onlyGovernance {
        _requireMember(memberId);
        _requireBoundTo(memberId, account);
        if (_accounts[memberId].length == 1) revert MemberAccountLimit(memberId, MAX_ACCOUNTS);
        _unbind(memberId, account);
        _notifyUnbound(memberId, account, _accounts[memberId][0]);
    }

    /**
     * @notice Replaces one signing account of a member by another in one step (key rotation or
     * recovery of a lost key).
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`); `oldAccount` is bound to it (`MemberAccountNotBound`);
     * `newAccount` is not zero (`MemberInvalidInput("account")`) and not bound
     * (`MemberAccountAlreadyBound`).
     *
     * The account listener (the SettlementToken) moves the old account's balance to the new
     * one in the same transaction.
     *
     * Emits `MemberAccountUnbound` then `MemberAccountBound` (and the listener's events).
     */
    function rotateAccount(uint256 memberId, address oldAccount, address newAccount) external onlyGovernance {
        _requireMember(memberId);
        _requireBoundTo(memberId, oldAccount);
        _requireBindable(newAccount);
        _unbind(memberId, oldAccount);
        _bind(memberId, newAccount);
        _notifyUnbound(memberId, oldAccount, newAccount);
    }

    /**
     * @notice Sets the contract told of every account that leaves a member (the
     * SettlementToken, so that balances follow the member); zero for none.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`).
     *
     * Emits `MemberAccountListenerSet`.
     */
    function setAccountListener(address listener) external onlyGovernance {
        _accountListener = listener;
        emit MemberAccountListenerSet(listener);
    }

    /**
     * @notice Records the SHA-256 fingerprint of a member's new X.509 certificate.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`).
     *
     * Emits `MemberCertificateUpdated`.
     */
    function setCertificateFingerprint(uint256 memberId, bytes32 fingerprint) external onlyGovernance {
        _requireMember(memberId);
        _members[memberId].certificateFingerprint = fingerprint;
        emit MemberCertificateUpdated(memberId, fingerprint);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @notice The bit of `role` in `Member.roles`: CORE_ENTERPRISE 1, SUPPLIER 2, FINANCIER 4,
    /// AUDITOR 8. Reverts `MemberUnknownRole(role)` for any other role.
    function roleBit(bytes32 role) public pure returns (uint256) {
        uint256 bit = _roleBit(role);
        if (bit == 0) revert MemberUnknownRole(role);
        return bit;
    }

    /// @inheritdoc IMemberRegistry
    function memberOf(address account) external view returns (uint256) {
        return _memberOf[account];
    }

    /// @inheritdoc IMemberRegistry
    function isActiveMember(address account, bytes32 role) external view returns (bool) {
        return _hasActiveRole(_memberOf[account], role);
    }

    /// @inheritdoc IMemberRegistry
    function hasActiveRole(uint256 memberId, bytes32 role) external view returns (bool) {
        return _hasActiveRole(memberId, role);
    }

    /// @inheritdoc IMemberRegistry
    function requireActiveMember(address account, bytes32 role) external view returns (uint256) {
        uint256 memberId = _memberOf[account];
        if (!_hasActiveRole(memberId, role)) revert MemberUnauthorizedAccount(account, role);
        return memberId;
    }

    /// @inheritdoc IMemberRegistry
    function requireActive(address account) external view returns (uint256) {
        uint256 memberId = _memberOf[account];
        if (memberId == 0) revert MemberUnknownAccount(account);
        MemberStatus status = _members[memberId].status;
        if (status != MemberStatus.Active) revert MemberInvalidStatus(memberId, status);
        return memberId;
    }

    /// @inheritdoc IMemberRegistry
    function getMember(uint256 memberId) external view returns (Member memory) {
        _requireMember(memberId);
        return _members[memberId];
    }

    /// @inheritdoc IMemberRegistry
    function memberCount() external view returns (uint256) {
        return _memberCount;
    }

    /// @notice True when `account` is bound to member `memberId`.
    function isAccountOf(uint256 memberId, address account) external view returns (bool) {
        return memberId != 0 && _memberOf[account] == memberId;
    }

    /// @notice The signing accounts bound to member `memberId` (at most `MAX_ACCOUNTS`).
    function accountsOf(uint256 memberId) external view returns (address[] memory) {
        return _accounts[memberId];
    }

    /// @notice The contract told of every account that leaves a member (zero: none).
    function accountListener() external view returns (address) {
        return _accountListener;
    }

    /// @notice The id of the member with this credit-code hash, or 0.
    function memberIdByCreditCode(bytes32 creditCodeHash) external view returns (uint256) {
        return _memberByCreditCode[creditCodeHash];
    }

    // ---- internals --------------------------------------------------------------------------

    function _admitMember(
        string calldata name,
        bytes32 creditCodeHash,
        bytes32[] calldata roles,
        address account,
        bytes32 certificateFingerprint
    ) internal returns (uint256 memberId) {
        if (bytes(name).length == 0) revert MemberInvalidInput("name");
        if (creditCodeHash == bytes32(0)) revert MemberInvalidInput("creditCodeHash");
        if (roles.length == 0) revert MemberInvalidInput("roles");
        uint256 mask;
        for (uint256 i = 0; i < roles.length; ++i) {
            mask |= roleBit(roles[i]);
        }
        uint256 existing = _memberByCreditCode[creditCodeHash];
        if (existing != 0) revert MemberAlreadyRegistered(creditCodeHash, existing);
        _requireBindable(account);

        memberId = ++_memberCount;
        Member storage m = _members[memberId];
        m.id = memberId;
        m.name = name;
        m.creditCodeHash = creditCodeHash;
        m.certificateFingerprint = certificateFingerprint;
        m.status = MemberStatus.Active;
        m.roles = mask;
        m.admittedAt = uint64(block.timestamp);
        _memberByCreditCode[creditCodeHash] = memberId;
        emit MemberAdmitted(memberId, creditCodeHash, name, mask, account);
        _bind(memberId, account);
        if (certificateFingerprint != bytes32(0)) emit MemberCertificateUpdated(memberId, certificateFingerprint);
    }

    /// @dev The one place where a member's status changes.
    function _setStatus(uint256 memberId, MemberStatus from, MemberStatus to) private {
        _requireMember(memberId);
        MemberStatus current = _members[memberId].status;
        if (current != from) revert MemberInvalidStatus(memberId, current);
        _members[memberId].status = to;
        if (to == MemberStatus.Suspended) emit MemberSuspended(memberId);
        else emit MemberReinstated(memberId);
    }

    function _grantRole(uint256 memberId, bytes32 role) private {
        _requireMember(memberId);
        uint256 bit = roleBit(role);
        Member storage m = _members[memberId];
        if (m.roles & bit != 0) revert MemberRoleAlreadyGranted(memberId, role);
        m.roles |= bit;
        emit MemberRoleGranted(memberId, role);
    }

    function _revokeRole(uint256 memberId, bytes32 role) private {
        _requireMember(memberId);
        uint256 bit = roleBit(role);
        Member storage m = _members[memberId];
        if (m.roles & bit == 0) revert MemberRoleNotGranted(memberId, role);
        m.roles &= ~bit;
        emit MemberRoleRevoked(memberId, role);
    }

    function _bind(uint256 memberId, address account) private {
        address[] storage accounts = _accounts[memberId];
        accounts.push(account);
        _accountSlot[account] = accounts.length;
        _memberOf[account] = memberId;
        _members[memberId].accountCount = uint32(accounts.length);
        emit MemberAccountBound(memberId, account);
    }

    function _unbind(uint256 memberId, address account) private {
        address[] storage accounts = _accounts[memberId];
        uint256 slot = _accountSlot[account];
        address last = accounts[accounts.length - 1];
        accounts[slot - 1] = last;
        _accountSlot[last] = slot;
        accounts.pop();
        delete _accountSlot[account];
        delete _memberOf[account];
        _members[memberId].accountCount = uint32(accounts.length);
        emit MemberAccountUnbound(memberId, account);
    }

    function _notifyUnbound(uint256 memberId, address oldAccount, address successor) private {
        address listener = _accountListener;
        if (listener != address(0)) IMemberAccountListener(listener).onAccountUnbound(memberId, oldAccount, successor);
    }

    function _requireMember(uint256 memberId) private view {
        if (memberId == 0 || memberId > _memberCount) revert MemberNotFound(memberId);
    }

    function _requireBindable(address account) private view {
        if (account == address(0)) revert MemberInvalidInput("account");
        uint256 boundTo = _memberOf[account];
        if (boundTo != 0) revert MemberAccountAlreadyBound(account, boundTo);
    }

    function _requireBoundTo(uint256 memberId, address account) private view {
        if (_memberOf[account] != memberId) revert MemberAccountNotBound(account, memberId);
    }

    function _hasActiveRole(uint256 memberId, bytes32 role) private view returns (bool) {
        if (memberId == 0) return false;
        Member storage m = _members[memberId];
        return m.status == MemberStatus.Active && m.roles & _roleBit(role) != 0;
    }

    function _roleBit(bytes32 role) private pure returns (uint256) {
        if (role == CORE_ENTERPRISE) return 1;
        if (role == SUPPLIER) return 2;
        if (role == FINANCIER) return 4;
        if (role == AUDITOR) return 8;
        return 0;
    }
}
