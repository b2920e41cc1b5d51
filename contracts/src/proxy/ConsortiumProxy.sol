// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";

/**
 * @title ConsortiumProxy
 * @notice The address and storage of one business contract (docs/decisions/0013): OpenZeppelin's
 * ERC-1967 proxy, which delegates every call to the implementation in its ERC-1967 slot. The
 * implementation (a `ConsortiumUpgradeable`) decides upgrades, through governance only.
 * @dev Deployed with `initialize()` as `data`, so the proxy is set up in its own transaction.
 */
contract ConsortiumProxy is ERC1967Proxy {
    constructor(address implementation_, bytes memory data) ERC1967Proxy(implementation_, data) {}
}
