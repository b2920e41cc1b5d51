// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ISettlementToken} from "../interfaces/ISettlementToken.sol";
import {IConsortiumGovernance} from "../interfaces/IConsortiumGovernance.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";

/**
 * @title SettlementToken
 * @notice "SCF Settlement CNY" (SCNY), a permissioned ERC-20 with 2 decimals. Active FINANCIER
 * members mint it to active members against off-chain deposits and burn their own tokens on
 * withdrawal. Balances move only between active members and registered system contracts.
 *
 * Roles come from the MemberRegistry and the pause from governance (one source of truth for
 * both), instead of OpenZeppelin's AccessControl and Pausable.
 */
contract SettlementToken is ERC20, ISettlementToken, ConsortiumManaged {
    IMemberRegistry private immutable _members;
    mapping(address => bool) private _systemContracts;
    uint256 private _totalMinted;
    uint256 private _totalBurned;

    /// @param governance_ the ConsortiumGovernance contract
    /// @param members_ the MemberRegistry
    constructor(address governance_, address members_)
        ERC20("SCF Settlement CNY", "SCNY")
        ConsortiumManaged(governance_)
    {
        if (members_ == address(0)) revert ConsortiumZeroAddress();
        _members = IMemberRegistry(members_);
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
     * (`SettlementUnauthorizedParticipant(to)`).
     *
     * Emits `Transfer(0, to, amount)` and `SettlementMinted`.
     */
    function mint(address to, uint256 amount, bytes32 bankRef) external whenNotPaused {
        uint256 financierId = _members.requireActiveMember(msg.sender, FINANCIER);
        if (amount == 0) revert SettlementInvalidAmount(amount);
        if (_systemContracts[to]) revert SettlementUnauthorizedParticipant(to);
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
     * (`ERC20InsufficientBalance(caller, balance, amount)`).
     *
     * Emits `Transfer(caller, 0, amount)` and `SettlementBurned`.
     */
    function burn(uint256 amount, bytes32 bankRef) external whenNotPaused {
        uint256 financierId = _members.requireActiveMember(msg.sender, FINANCIER);
        if (amount == 0) revert SettlementInvalidAmount(amount);
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

    // ---- internals --------------------------------------------------------------------------

    /**
     * @dev Every balance change (transfer, mint, burn) passes here: not while paused
     * (`ConsortiumPaused`); each non-zero side is an active member's account or a system
     * contract (`SettlementUnauthorizedParticipant(account)`).
     */
    function _update(address from, address to, uint256 value) internal override {
        if (_isPaused()) revert ConsortiumPaused();
        if (from != address(0)) _requireParticipant(from);
        if (to != address(0)) _requireParticipant(to);
        super._update(from, to, value);
    }

    /// @dev Approvals are business writes too: none while paused.
    function _approve(address owner, address spender, uint256 value, bool emitEvent) internal override {
        if (emitEvent && _isPaused()) revert ConsortiumPaused();
        super._approve(owner, spender, value, emitEvent);
    }

    function _requireParticipant(address account) private view {
        if (_systemContracts[account]) return;
        try _members.requireActive(account) returns (uint256) {
            return;
        } catch {
            revert SettlementUnauthorizedParticipant(account);
        }
    }

    function _isPaused() private view returns (bool) {
        return IConsortiumGovernance(governance()).paused();
    }
}
