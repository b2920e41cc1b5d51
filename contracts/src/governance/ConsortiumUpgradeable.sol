// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {ERC1967Utils} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Utils.sol";
import {ConsortiumManaged} from "./ConsortiumManaged.sol";

/**
 * @title ConsortiumUpgradeable
 * @notice Base of the business contracts, which run behind an ERC-1967 proxy (`ConsortiumProxy`)
 * so that the committee can change their rules without moving their state or address
 * (docs/decisions/0013). The only way to upgrade is `upgradeToVerified`, called by governance
 * through an executed proposal that names the new implementation AND the hash of its code, so
 * the governors vote on exact bytecode.
 *
 * @dev UUPS: the upgrade logic lives in the implementation, so every version must inherit this
 * contract or the proxy can never be upgraded again (OpenZeppelin checks `proxiableUUID`).
 * Storage is laid out in declaration order: a new version keeps every state variable of the
 * one before, in order, and only appends. Immutables (governance, sibling contracts) live in
 * the implementation's code; a new implementation is built with the same ones, which
 * `upgradeToVerified` checks for governance. OpenZeppelin's Initializable keeps its version in
 * an ERC-7201 slot, so it takes no slot of the layout.
 */
abstract contract ConsortiumUpgradeable is ConsortiumManaged, Initializable, UUPSUpgradeable {
    /// @dev Upgrades go through `upgradeToVerified` only.
    error ConsortiumUpgradeNeedsCodeHash();
    /// @dev The code at `implementation` does not hash to what the proposal recorded.
    error ConsortiumImplementationMismatch(address implementation, bytes32 expected, bytes32 actual);
    /// @dev `implementation` obeys another governance contract (or none): the proxy would be
    /// lost to the committee.
    error ConsortiumImplementationGovernance(address implementation);

    /// @dev The implementation itself is never initialized: only proxies are.
    constructor() {
        _disableInitializers();
    }

    /**
     * @notice Sets up version 1 of a proxy; `ConsortiumProxy` calls it in its constructor, in
     * the same transaction as the deployment, so nobody can call it first. The first versions
     * keep nothing to set up; this only consumes the initializer (later versions use
     * `reinitializer(n)` for their own set-up, passed as the upgrade's call data).
     *
     * Requirements: not initialized yet, else `InvalidInitialization()`.
     */
    function initialize() external initializer {}

    /**
     * @notice Points this proxy at `newImplementation` and then, when `data` is not empty,
     * delegatecalls it with `data` (a `reinitializer` of the new version).
     * @param codeHash keccak-256 of `newImplementation`'s runtime code, as recorded in the
     * proposal the governors voted on
     *
     * Requirements:
     * - called through the proxy (`UUPSUnauthorizedCallContext`);
     * - the caller is governance (`ConsortiumUnauthorizedGovernance`);
     * - `newImplementation`'s code hashes to `codeHash`
     *   (`ConsortiumImplementationMismatch(implementation, expected, actual)`);
     * - it obeys this same governance (`ConsortiumImplementationGovernance`);
     * - it is UUPS (`ERC1967InvalidImplementation`, `UUPSUnsupportedProxiableUUID`);
     * - the call with `data` succeeds (its own error).
     *
     * Emits `Upgraded(newImplementation)` (ERC-1967) and whatever `data` emits.
     */
    function upgradeToVerified(address newImplementation, bytes32 codeHash, bytes calldata data)
        external
        onlyGovernance
    {
        bytes32 actual = newImplementation.codehash;
        if (actual != codeHash) revert ConsortiumImplementationMismatch(newImplementation, codeHash, actual);
        if (!_obeysThisGovernance(newImplementation)) revert ConsortiumImplementationGovernance(newImplementation);
        super.upgradeToAndCall(newImplementation, data);
    }

    /// @notice Refused: use `upgradeToVerified`, which checks the code hash.
    function upgradeToAndCall(address, bytes memory) public payable virtual override {
        revert ConsortiumUpgradeNeedsCodeHash();
    }

    /// @notice The implementation this proxy runs (ERC-1967 slot); zero on an implementation.
    function implementation() external view returns (address) {
        return ERC1967Utils.getImplementation();
    }

    /// @notice The proxy's initialized version: 1 after deployment, n after a `reinitializer(n)`.
    function initializedVersion() external view returns (uint64) {
        return _getInitializedVersion();
    }

    function _authorizeUpgrade(address) internal view override onlyGovernance {}

    function _obeysThisGovernance(address newImplementation) private view returns (bool) {
        (bool ok, bytes memory answer) =
            newImplementation.staticcall(abi.encodeWithSelector(ConsortiumManaged.governance.selector));
        return ok && answer.length == 32 && abi.decode(answer, (address)) == governance();
    }
}
