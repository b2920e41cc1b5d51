// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CreditCertificates} from "../src/finance/CreditCertificates.sol";

/// @notice Test fixture: CreditCertificates with one new function, upgraded in the same
/// proposal as FinancingHubV2.
contract CreditCertificatesV2 is CreditCertificates {
    constructor(address governance_, address members_, address invoices_, address lines_)
        CreditCertificates(governance_, members_, invoices_, lines_)
    {}

    function version() external pure returns (uint256) {
        return 2;
    }
}
