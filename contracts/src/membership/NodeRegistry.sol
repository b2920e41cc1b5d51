// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {INodeRegistry} from "../interfaces/INodeRegistry.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";

/**
 * @title NodeRegistry
 * @notice Allow-list of the consortium's ledger nodes, managed by governance. Removing a node
 * only flags it: `nodeIds()` is append-only and no write ever loops over it. A removed node
 * may be added again (same id), which puts it back on the list.
 */
contract NodeRegistry is INodeRegistry, ConsortiumManaged {
    /// @notice Length in bytes of a node public key (uncompressed secp256k1, no prefix).
    uint256 public constant PUBLIC_KEY_LENGTH = 64;

    IMemberRegistry private immutable _memberRegistry;

    // Internal, not private, so that the importer of a pre-proxy consortium's registry can
    // write them (contracts/src/migration/RegistryImporters.sol); nothing else does.
    mapping(bytes32 => Node) internal _nodes;
    bytes32[] internal _nodeIds;
    uint256 internal _allowedCount;

    /// @param governance_ the ConsortiumGovernance contract, the only writer
    /// @param memberRegistry_ the MemberRegistry that knows the nodes' owners
    constructor(address governance_, address memberRegistry_) ConsortiumManaged(governance_) {
        if (memberRegistry_ == address(0)) revert ConsortiumZeroAddress();
        _memberRegistry = IMemberRegistry(memberRegistry_);
    }

    // ---- governance writes ------------------------------------------------------------------

    /**
     * @notice Puts a node on the allow-list.
     * @param publicKey the node's 64-byte secp256k1 public key
     * @param ownerMemberId the member that runs the node
     * @param endpoint where peers reach it, e.g. "enode://…@host:30303" or "host:30303"
     * @return nodeId keccak256(publicKey)
     *
     * Requirements:
     * - the caller is governance, else `ConsortiumUnauthorizedGovernance(caller)`;
     * - `publicKey` is 64 bytes long, else `NodeInvalidPublicKey(length)`;
     * - member `ownerMemberId` exists, else `NodeUnknownOwner(ownerMemberId)`;
     * - `endpoint` is not empty, else `NodeInvalidEndpoint()`;
     * - the node is not on the list already, else `NodeAlreadyRegistered(nodeId)`.
     *
     * Emits `NodeAdded`.
     */
    function addNode(bytes calldata publicKey, uint256 ownerMemberId, string calldata endpoint)
        external
        onlyGovernance
        returns (bytes32 nodeId)
    {
        return _addNode(publicKey, ownerMemberId, endpoint);
    }

    /**
     * @notice Takes a node off the allow-list (its record stays, flagged as removed).
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the node is
     * on the list, else `NodeNotFound(nodeId)`.
     *
     * Emits `NodeRemoved`.
     */
    function removeNode(bytes32 nodeId) external onlyGovernance {
        _requireAllowed(nodeId);
        _nodes[nodeId].allowed = false;
        --_allowedCount;
        emit NodeRemoved(nodeId);
    }

    /**
     * @notice Changes where a node is reached.
     *
     * Requirements: the caller is governance (`ConsortiumUnauthorizedGovernance`); the node is
     * on the list (`NodeNotFound(nodeId)`); `endpoint` is not empty (`NodeInvalidEndpoint()`).
     *
     * Emits `NodeEndpointUpdated`.
     */
    function updateEndpoint(bytes32 nodeId, string calldata endpoint) external onlyGovernance {
        _requireAllowed(nodeId);
        if (bytes(endpoint).length == 0) revert NodeInvalidEndpoint();
        _nodes[nodeId].endpoint = endpoint;
        emit NodeEndpointUpdated(nodeId, endpoint);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @inheritdoc INodeRegistry
    function isNodeAllowed(bytes32 nodeId) external view returns (bool) {
        return _nodes[nodeId].allowed;
    }

    /// @inheritdoc INodeRegistry
    function getNode(bytes32 nodeId) external view returns (Node memory) {
        if (_nodes[nodeId].id == bytes32(0)) revert NodeNotFound(nodeId);
        return _nodes[nodeId];
    }

    /// @inheritdoc INodeRegistry
    function nodeIds() external view returns (bytes32[] memory) {
        return _nodeIds;
    }

    /// @inheritdoc INodeRegistry
    function nodeCount() external view returns (uint256) {
        return _nodeIds.length;
    }

    /// @inheritdoc INodeRegistry
    function allowedNodeCount() external view returns (uint256) {
        return _allowedCount;
    }

    /// @notice The MemberRegistry that knows the nodes' owners.
    function memberRegistry() external view returns (address) {
        return address(_memberRegistry);
    }

    // ---- internals --------------------------------------------------------------------------

    function _addNode(bytes calldata publicKey, uint256 ownerMemberId, string calldata endpoint)
        internal
        returns (bytes32 nodeId)
    {
        if (publicKey.length != PUBLIC_KEY_LENGTH) revert NodeInvalidPublicKey(publicKey.length);
        if (ownerMemberId == 0 || ownerMemberId > _memberRegistry.memberCount()) {
            revert NodeUnknownOwner(ownerMemberId);
        }
        if (bytes(endpoint).length == 0) revert NodeInvalidEndpoint();
        nodeId = keccak256(publicKey);
        Node storage node = _nodes[nodeId];
        if (node.allowed) revert NodeAlreadyRegistered(nodeId);
        if (node.id == bytes32(0)) {
            node.id = nodeId;
            node.publicKey = publicKey;
            _nodeIds.push(nodeId);
        }
        node.ownerMemberId = ownerMemberId;
        node.endpoint = endpoint;
        node.allowed = true;
        node.addedAt = uint64(block.timestamp);
        ++_allowedCount;
        emit NodeAdded(nodeId, ownerMemberId, publicKey, endpoint);
    }

    function _requireAllowed(bytes32 nodeId) private view {
        if (!_nodes[nodeId].allowed) revert NodeNotFound(nodeId);
    }
}
