// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Test fixture: obeys the consortium's governance but is not UUPS, so a proxy moved
/// to it could never be upgraded again; the upgrade must refuse it.
contract NotUpgradeable {
    address public immutable governance;

    constructor(address governance_) {
        governance = governance_;
    }
}
