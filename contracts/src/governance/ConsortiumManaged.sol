// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumGovernance} from "../interfaces/IConsortiumGovernance.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";

/**
 * @title ConsortiumManaged
 * @notice Base of every consortium contract: knows the governance contract (the only caller of
 * governance-only functions), honours the global pause, and checks membership and roles.
 */
abstract contract ConsortiumManaged {
    bytes32 public constant CORE_ENTERPRISE = keccak256("CORE_ENTERPRISE");
    bytes32 public constant SUPPLIER = keccak256("SUPPLIER");
    bytes32 public constant FINANCIER = keccak256("FINANCIER");
    bytes32 public constant AUDITOR = keccak256("AUDITOR");

    /// @dev The caller is not the governance contract.
    error ConsortiumUnauthorizedGovernance(address caller);
    /// @dev Governance has paused business writes.
    error ConsortiumPaused();
    /// @dev A constructor address was zero.
    error ConsortiumZeroAddress();

    IConsortiumGovernance private immutable _governance;

    constructor(address governance_) {
        if (governance_ == address(0)) revert ConsortiumZeroAddress();
        _governance = IConsortiumGovernance(governance_);
    }

    modifier onlyGovernance() {
        if (msg.sender != address(_governance)) revert ConsortiumUnauthorizedGovernance(msg.sender);
        _;
    }

    modifier whenNotPaused() {
        if (_governance.paused()) revert ConsortiumPaused();
        _;
    }

    /// @notice The governance contract this contract obeys.
    function governance() public view returns (address) {
        return address(_governance);
    }
}
