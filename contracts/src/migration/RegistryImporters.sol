// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MemberRegistry} from "../membership/MemberRegistry.sol";
import {NodeRegistry} from "../membership/NodeRegistry.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {INodeRegistry} from "../interfaces/INodeRegistry.sol";
import {LegacyImport} from "./LegacyImport.sol";
import {ILegacyGovernance, ILegacyManaged, ILegacyMemberRegistry, ILegacyNodeRegistry} from "./ILegacy.sol";

/*
 * The successor registries of a consortium deployed before issue 21 (docs/decisions/0013).
 * The registries are plain contracts (not proxied), so a successor is today's registry plus an
 * import window that the adopting proposal closes for good: after it, the import functions
 * revert `ImportWindowClosed` and the contract is today's registry. Members keep their ids,
 * accounts, credit-code hashes, roles, status, fingerprints and admission times; nodes their
 * ids, keys, owners, endpoints and flags. Nothing is taken from the caller: each import reads
 * the legacy registry's views.
 *
 * The legacy registries obey the legacy governance and do not honour its pause. So a window
 * opens only once the legacy committee has handed the legacy governance to the successor
 * governance (its sole governor) and paused it: from then on the legacy registries change only
 * by the successor committee's vote, and what is imported stays what the legacy holds.
 */

/// @dev The legacy governance `legacyGovernance` is not paused, or has another governor than
/// the successor governance: the legacy registries could still change under the import.
error ImportLegacyNotHandedOver(address legacyGovernance);
/// @dev The successor registry holds records of its own already (a window opens on an empty one).
error ImportRegistryNotEmpty();
/// @dev The legacy record `record` collides with one the successor registry holds already.
error ImportConflict(bytes32 record);

/// @dev Reverts unless `legacy`'s governance is paused and has `successorGovernance` as its
/// only governor.
function requireHandedOver(address legacy, address successorGovernance) view {
    ILegacyGovernance legacyGovernance = ILegacyGovernance(ILegacyManaged(legacy).governance());
    address[] memory governors = legacyGovernance.governors();
    if (!legacyGovernance.paused() || governors.length != 1 || governors[0] != successorGovernance) {
        revert ImportLegacyNotHandedOver(address(legacyGovernance));
    }
}

/// @notice Members by id, 1 to the legacy `memberCount`, with their accounts in order.
contract MemberRegistryImport is MemberRegistry, LegacyImport {
    constructor(address governance_) MemberRegistry(governance_) {}

    function openImport(address legacy) external onlyGovernance {
        if (_memberCount != 0) revert ImportRegistryNotEmpty();
        requireHandedOver(legacy, governance());
        _openWindow(legacy);
        _memberCount = ILegacyMemberRegistry(legacy).memberCount();
    }

    /// @notice Copies member `id` and its accounts from the legacy registry; false if imported
    /// before. The record's value is its number of accounts.
    function importMember(uint256 id) external returns (bool) {
        ILegacyMemberRegistry legacy = ILegacyMemberRegistry(_legacy());
        if (id == 0 || id > legacy.memberCount()) revert ImportNotInLegacy(bytes32(id));
        if (_imported(bytes32(id))) return false;
        IMemberRegistry.Member memory m = legacy.getMember(id);
        address[] memory accounts = legacy.accountsOf(id);
        if (_memberByCreditCode[m.creditCodeHash] != 0) revert ImportConflict(m.creditCodeHash);
        _members[id] = m;
        _memberByCreditCode[m.creditCodeHash] = id;
        for (uint256 i; i < accounts.length; ++i) {
            address account = accounts[i];
            if (_memberOf[account] != 0) revert ImportConflict(bytes32(uint256(uint160(account))));
            _accounts[id].push(account);
            _accountSlot[account] = i + 1;
            _memberOf[account] = id;
        }
        _record(bytes32(id), accounts.length);
        return true;
    }

    /// @notice Adoption: every legacy member imported, `total` accounts bound to them.
    function closeImport(uint256 count, uint256 total) external onlyGovernance {
        _requireLegacy(ILegacyMemberRegistry(_legacy()).memberCount(), count);
        _close(count, total);
    }
}

/// @notice Nodes by id, as the legacy `nodeIds()` lists them (removed ones included).
contract NodeRegistryImport is NodeRegistry, LegacyImport {
    constructor(address governance_, address memberRegistry_) NodeRegistry(governance_, memberRegistry_) {}

    function openImport(address legacy) external onlyGovernance {
        if (_nodeIds.length != 0) revert ImportRegistryNotEmpty();
        requireHandedOver(legacy, governance());
        _openWindow(legacy);
    }

    /// @notice Copies node `nodeId` from the legacy registry; false if imported before. The
    /// record's value is 1 for a node on the allow-list, 0 for a removed one.
    function importNode(bytes32 nodeId) external returns (bool) {
        ILegacyNodeRegistry legacy = ILegacyNodeRegistry(_legacy());
        if (_imported(nodeId)) return false;
        INodeRegistry.Node memory n;
        try legacy.getNode(nodeId) returns (INodeRegistry.Node memory found) {
            n = found;
        } catch {
            revert ImportNotInLegacy(nodeId);
        }
        if (_nodes[nodeId].id != bytes32(0)) revert ImportConflict(nodeId);
        _nodes[nodeId] = n;
        _nodeIds.push(nodeId);
        uint256 allowed = n.allowed ? 1 : 0;
        _allowedCount += allowed;
        _record(nodeId, allowed);
        return true;
    }

    /// @notice Adoption: every legacy node imported (`count`), `total` of them allowed.
    function closeImport(uint256 count, uint256 total) external onlyGovernance {
        ILegacyNodeRegistry legacy = ILegacyNodeRegistry(_legacy());
        _requireLegacy(legacy.nodeCount(), count);
        _requireLegacy(legacy.allowedNodeCount(), total);
        _close(count, total);
    }
}
