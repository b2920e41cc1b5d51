// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IMemberRegistry
 * @notice The consortium's members: companies with roles, a status and bound signing accounts.
 * Every business contract asks it whether an account belongs to an active member with a role.
 * Business state is keyed by member id, never by account, so rotating an account moves nothing.
 * Money is the exception (an ERC-20 balance belongs to an address): the registry tells its
 * account listener, the SettlementToken, whenever an account leaves a member, and the token
 * moves that account's balance to the member's successor account in the same transaction.
 */
interface IMemberRegistry {
    enum MemberStatus {
        None,
        Active,
        Suspended
    }

    struct Member {
        uint256 id;
        string name;
        bytes32 creditCodeHash;
        bytes32 certificateFingerprint;
        MemberStatus status;
        uint256 roles; // bit mask of ROLE_* bits, see roleBit()
        uint64 admittedAt;
        uint32 accountCount;
    }

    // ---- errors --------------------------------------------------------------------------
    /// @dev `account` is not bound to any member.
    error MemberUnknownAccount(address account);
    /// @dev `account` is not bound to an active member holding `role`.
    error MemberUnauthorizedAccount(address account, bytes32 role);
    /// @dev No member has id `memberId`.
    error MemberNotFound(uint256 memberId);
    /// @dev A member with this credit-code hash exists already.
    error MemberAlreadyRegistered(bytes32 creditCodeHash, uint256 memberId);
    /// @dev `account` is already bound to member `memberId`.
    error MemberAccountAlreadyBound(address account, uint256 memberId);
    /// @dev `account` is not bound to member `memberId`.
    error MemberAccountNotBound(address account, uint256 memberId);
    /// @dev A member may not hold more than `max` accounts, nor lose its last one.
    error MemberAccountLimit(uint256 memberId, uint256 max);
    /// @dev The member's status is `status`, which does not allow the change.
    error MemberInvalidStatus(uint256 memberId, MemberStatus status);
    /// @dev `role` is not one of the consortium's roles.
    error MemberUnknownRole(bytes32 role);
    /// @dev A required value was empty or zero (`field` names it).
    error MemberInvalidInput(string field);

    // ---- events --------------------------------------------------------------------------
    event MemberAdmitted(
        uint256 indexed memberId, bytes32 indexed creditCodeHash, string name, uint256 roles, address account
    );
    event MemberSuspended(uint256 indexed memberId);
    event MemberReinstated(uint256 indexed memberId);
    event MemberRoleGranted(uint256 indexed memberId, bytes32 indexed role);
    event MemberRoleRevoked(uint256 indexed memberId, bytes32 indexed role);
    event MemberAccountBound(uint256 indexed memberId, address indexed account);
    event MemberAccountUnbound(uint256 indexed memberId, address indexed account);
    event MemberCertificateUpdated(uint256 indexed memberId, bytes32 fingerprint);
    /// @dev `listener` is told of every account leaving a member from now on (zero: nobody).
    event MemberAccountListenerSet(address listener);

    // ---- views ---------------------------------------------------------------------------
    /// @notice The member id bound to `account`, or 0.
    function memberOf(address account) external view returns (uint256);

    /// @notice True when `account` is bound to an active member holding `role`.
    function isActiveMember(address account, bytes32 role) external view returns (bool);

    /// @notice True when member `memberId` exists, is active and holds `role`.
    function hasActiveRole(uint256 memberId, bytes32 role) external view returns (bool);

    /// @notice The id of the active member with `role` that `account` is bound to.
    /// Requirements: the member exists, is active and holds `role`; else
    /// `MemberUnauthorizedAccount(account, role)`.
    function requireActiveMember(address account, bytes32 role) external view returns (uint256);

    /// @notice The id of the active member `account` is bound to, whatever its roles.
    /// Requirements: else `MemberUnknownAccount` or `MemberInvalidStatus`.
    function requireActive(address account) external view returns (uint256);

    /// @notice Member `memberId`. Reverts `MemberNotFound` if there is none.
    function getMember(uint256 memberId) external view returns (Member memory);

    /// @notice Number of members ever admitted; ids run from 1 to this value.
    function memberCount() external view returns (uint256);
}

/**
 * @title IMemberAccountListener
 * @notice Told by the MemberRegistry, inside the governance transaction that unbinds or rotates
 * an account, that `oldAccount` left member `memberId` and `successor` (bound to it) takes over.
 * A revert here reverts the unbinding.
 */
interface IMemberAccountListener {
    function onAccountUnbound(uint256 memberId, address oldAccount, address successor) external;
}
