// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ISettlementToken} from "../interfaces/ISettlementToken.sol";
import {IConsortiumGovernance} from "../interfaces/IConsortiumGovernance.sol";
import {IMemberAccountListener, IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";
import {ConsortiumUpgradeable} from "../governance/ConsortiumUpgradeable.sol";

/**
 * @title SettlementToken
 * @notice "SCF Settlement CNY" (SCNY), a permissioned ERC-20 with 2 decimals. Active FINANCIER
 * members mint it to active members against off-chain deposits and burn their own tokens on
 * withdrawal. Balances move between active members and registered system contracts; a
 * suspended member's account still pays and is paid by a system contract (repayment to
 * Maturity, redemption from it): suspension freezes trading, never money that is owed.
 *
 * Balances follow the member, not one address: when governance unbinds or rotates a member's
 * account, the MemberRegistry calls `onAccountUnbound` in the same transaction and the balance
 * moves to the member's successor account (docs/decisions/0010). Allowances given by the old account
 * do not move.
 *
 * Issuance is bounded per financier: what it minted minus what it burned (never below zero)
 * may not exceed its cap, set by governance per financier (`setIssuanceCap`) or else the
 * consortium-wide governance parameter `ISSUANCE_CAP` (0 = no minting).
 *
 * Roles come from the MemberRegistry and the pause from governance (one source of truth for
 * both), instead of OpenZeppelin's AccessControl and Pausable.
 */
contract SettlementToken is ERC20, ISettlementToken, IMemberAccountListener, ConsortiumUpgradeable {
    /// @notice Governance parameter: issuance cap of a financier without its own, fen.
    bytes32 public constant ISSUANCE_CAP = keccak256("ISSUANCE_CAP");
    string private constant _NAME = "SCF Settlement CNY";
    string private constant _SYMBOL = "SCNY";

    /// @dev A financier's outstanding issuance and, when `custom`, its own cap (one slot).
    struct Issuance {
        uint128 outstanding;
        uint120 cap;
        bool custom;
    }

    IMemberRegistry private immutable _members;
    mapping(address => bool) internal _systemContracts;
    uint256 internal _totalMinted;
    uint256 internal _totalBurned;
    mapping(uint256 => Issuance) internal _issuance; // by financier member id

    /// @param governance_ the ConsortiumGovernance contract
    /// @param members_ the MemberRegistry
    constructor(address governance_, address members_)
        ERC20(_NAME, _SYMBOL)
        ConsortiumManaged(governance_)
    {
        if (members_ == address(0)) revert ConsortiumZeroAddress();
        _members = IMemberRegistry(members_);
    }

    /// @notice "SCF Settlement CNY". A constant, not ERC20's stored name: behind a proxy the
    /// constructor's storage is the implementation's, not the proxy's.
    function name() public pure override returns (string memory) {
        return _NAME;
    }

    /// @notice "SCNY" (see `name`).
    function symbol() public pure override returns (string memory) {
        return _SYMBOL;
    }

    /// @notice 2: one token unit is one fen.
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    // ---- financier writes -------------------------------------------------------------------

    /**
     * @notice The caller's FINANCIER mints `amount` to `to` against an off-chain deposit.
     * @param to an account of an active member (not a system contract)
     * @param bankRef the deposit's reference in the financier's books
     *
     * Requirements: not paused (`ConsortiumPaused`); the caller is bound to an active FINANCIER
     * (`MemberUnauthorizedAccount(caller, FINANCIER)`); `amount > 0`
     * (`SettlementInvalidAmount`); `to` is an active member's account
     * (`SettlementUnauthorizedParticipant(to)`); the financier's outstanding issuance plus
     * `amount` is within its cap
     * (`SettlementIssuanceCapExceeded(financierId, outstanding, amount, cap)`).
     *
     * Emits `Transfer(0, to, amount)` and `SettlementMinted`.
     */
    function mint(address to, uint256 amount, bytes32 bankRef) external whenNotPaused {
        uint256 financierId = _members.requireActiveMember(msg.sender, FINANCIER);
        if (amount == 0) revert SettlementInvalidAmount(amount);
        if (_systemContracts[to]) revert SettlementUnauthorizedParticipant(to);
        Issuance storage issuance = _issuance[financierId];
        uint256 outstanding = issuance.outstanding;
        uint256 cap = _capOf(issuance);
        if (amount > cap || outstanding > cap - amount) {
            revert SettlementIssuanceCapExceeded(financierId, outstanding, amount, cap);
        }
        issuance.outstanding = uint128(outstanding + amount); // <= cap < 2^120
        _mint(to, amount);
        _totalMinted += amount;
        emit SettlementMinted(financierId, to, amount, bankRef);
    }

    /**
     * @notice The caller's FINANCIER burns `amount` of the caller's own tokens (withdrawal).
     * @param bankRef the withdrawal's reference in the financier's books
     *
     * Requirements: not paused (`ConsortiumPaused`); the caller is bound to an active FINANCIER
     * (`MemberUnauthorizedAccount(caller, FINANCIER)`); `amount > 0`
     * (`SettlementInvalidAmount`); the caller holds it
     * (`ERC20InsufficientBalance(caller, balance, amount)`). The financier's outstanding
     * issuance drops by `amount`, not below zero (it may burn tokens another financier minted).
     *
     * Emits `Transfer(caller, 0, amount)` and `SettlementBurned`.
     */
    function burn(uint256 amount, bytes32 bankRef) external whenNotPaused {
        uint256 financierId = _members.requireActiveMember(msg.sender, FINANCIER);
        if (amount == 0) revert SettlementInvalidAmount(amount);
        Issuance storage issuance = _issuance[financierId];
        uint256 outstanding = issuance.outstanding;
        issuance.outstanding = uint128(amount >= outstanding ? 0 : outstanding - amount);
        _burn(msg.sender, amount);
        _totalBurned += amount;
        emit SettlementBurned(financierId, msg.sender, amount, bankRef);
    }

    // ---- governance writes ------------------------------------------------------------------

    /**
     * @notice Registers (or removes) a system contract that may hold and move tokens.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); `account`
     * is not zero (`ConsortiumZeroAddress`); the flag changes
     * (`SettlementSystemContractUnchanged(account, allowed)`).
     *
     * Emits `SystemContractSet`.
     */
    function setSystemContract(address account, bool allowed) external onlyGovernance {
        if (account == address(0)) revert ConsortiumZeroAddress();
        if (_systemContracts[account] == allowed) revert SettlementSystemContractUnchanged(account, allowed);
        _systemContracts[account] = allowed;
        emit SystemContractSet(account, allowed);
    }

    /**
     * @notice Sets financier `financierId`'s own issuance cap (it then no longer follows the
     * consortium-wide `ISSUANCE_CAP`). A cap below what is outstanding stops new minting until
     * burns bring it under.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the member
     * exists (`MemberNotFound`); `cap < 2^120` (`SettlementInvalidAmount(cap)`).
     *
     * Emits `SettlementIssuanceCapSet`.
     */
    function setIssuanceCap(uint256 financierId, uint256 cap) external onlyGovernance {
        _members.getMember(financierId);
        if (cap > type(uint120).max) revert SettlementInvalidAmount(cap);
        Issuance storage issuance = _issuance[financierId];
        issuance.cap = uint120(cap);
        issuance.custom = true;
        emit SettlementIssuanceCapSet(financierId, cap);
    }

    // ---- member registry hook -------------------------------------------------------------

    /**
     * @notice The MemberRegistry tells that `oldAccount` left member `memberId`: its whole
     * balance moves to `successor`, the member's account that takes over. Runs inside the
     * governance transaction that unbinds or rotates, also while paused.
     *
     * Requirements: the caller is the MemberRegistry
     * (`SettlementUnauthorizedCaller(caller)`).
     *
     * Emits, for a non-zero balance, `Transfer(oldAccount, successor, balance)` and
     * `SettlementBalanceMigrated`.
     */
    function onAccountUnbound(uint256 memberId, address oldAccount, address successor) external {
        if (msg.sender != address(_members)) revert SettlementUnauthorizedCaller(msg.sender);
        uint256 balance = balanceOf(oldAccount);
        if (balance == 0) return;
        ERC20._update(oldAccount, successor, balance); // the registry vouches for both accounts
        emit SettlementBalanceMigrated(memberId, oldAccount, successor, balance);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @inheritdoc ISettlementToken
    function isSystemContract(address account) external view returns (bool) {
        return _systemContracts[account];
    }

    /// @inheritdoc ISettlementToken
    function totalMinted() external view returns (uint256) {
        return _totalMinted;
    }

    /// @inheritdoc ISettlementToken
    function totalBurned() external view returns (uint256) {
        return _totalBurned;
    }

    /// @inheritdoc ISettlementToken
    function issuanceOf(uint256 financierId) external view returns (uint256 outstanding, uint256 cap) {
        Issuance storage issuance = _issuance[financierId];
        return (issuance.outstanding, _capOf(issuance));
    }

    /// @inheritdoc ISettlementToken
    function hasOwnIssuanceCap(uint256 financierId) external view returns (bool) {
        return _issuance[financierId].custom;
    }

    // ---- internals --------------------------------------------------------------------------

    /**
     * @dev Every balance change (transfer, mint, burn) passes here: not while paused
     * (`ConsortiumPaused`); each non-zero side is an active member's account or a system
     * contract, or, when the other side is a system contract, a suspended member's account
     * (`SettlementUnauthorizedParticipant(account)`).
     */
    function _update(address from, address to, uint256 value) internal override {
        if (_isPaused()) revert ConsortiumPaused();
        if (from != address(0)) _requireParticipant(from, _systemContracts[to]);
        if (to != address(0)) _requireParticipant(to, _systemContracts[from]);
        super._update(from, to, value);
    }

    /// @dev Approvals are business writes too: none while paused.
    function _approve(address owner, address spender, uint256 value, bool emitEvent) internal override {
        if (emitEvent && _isPaused()) revert ConsortiumPaused();
        super._approve(owner, spender, value, emitEvent);
    }

    /// @dev `withSystem`: the other side is a system contract, so money owed may still move to
    /// or from a suspended member (any bound account passes).
    function _requireParticipant(address account, bool withSystem) private view {
        if (_systemContracts[account]) return;
        if (withSystem && _members.memberOf(account) != 0) return;
        try _members.requireActive(account) returns (uint256) {
            return;
        } catch {
            revert SettlementUnauthorizedParticipant(account);
        }
    }

    function _capOf(Issuance storage issuance) private view returns (uint256) {
        if (issuance.custom) return issuance.cap;
        uint256 cap = IConsortiumGovernance(governance()).parameter(ISSUANCE_CAP);
        return cap > type(uint120).max ? type(uint120).max : cap;
    }

    function _isPaused() private view returns (bool) {
        return IConsortiumGovernance(governance()).paused();
    }
}
