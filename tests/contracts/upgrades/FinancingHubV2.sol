// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {FinancingHub} from "../src/finance/FinancingHub.sol";

/// @notice Test fixture: a second version of FinancingHub with a visible rule change (the
/// discount rounds down, in the seller's favour), a new function and a new state variable,
/// appended after every variable of version 1.
contract FinancingHubV2 is FinancingHub {
    uint256 private _upgradedAt;

    constructor(address governance_, address members_, address certificates_, address token_)
        FinancingHub(governance_, members_, certificates_, token_)
    {}

    /// @notice Version 2's set-up, run by the upgrade proposal's call data.
    function initializeV2() external reinitializer(2) {
        _upgradedAt = block.timestamp;
    }

    function version() external pure returns (uint256) {
        return 2;
    }

    function upgradedAt() external view returns (uint256) {
        return _upgradedAt;
    }

    /// @dev Version 2's rule: `discount = floor(amount * rateBps * days / (BPS * DAYS_PER_YEAR))`.
    function quote(uint256 amount, uint256 rateBps, uint256 days_)
        public
        pure
        override
        returns (uint256 price, uint256 discount)
    {
        if (rateBps > MAX_RATE_BPS) revert FinancingInvalidRate(rateBps, MAX_RATE_BPS);
        discount = (amount * rateBps * days_) / (BPS * DAYS_PER_YEAR);
        if (discount >= amount) revert FinancingDiscountExceedsAmount(amount, discount);
        price = amount - discount;
    }
}
