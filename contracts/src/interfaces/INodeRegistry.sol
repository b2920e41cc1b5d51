// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title INodeRegistry
 * @notice The allow-list of ledger nodes: each node is known by its secp256k1 public key
 * (64 bytes, uncompressed, no 0x04 prefix), its id is keccak256 of that key, and it belongs to
 * a consortium member. Nodes read it to decide which peers may join.
 */
interface INodeRegistry {
    struct Node {
        bytes32 id;
        bytes publicKey;
        uint256 ownerMemberId;
        string endpoint;
        bool allowed; // false once removed
        uint64 addedAt; // last time it was (re)added
    }

    // ---- errors --------------------------------------------------------------------------
    /// @dev A node public key must be 64 bytes long; this one is `length` bytes.
    error NodeInvalidPublicKey(uint256 length);
    /// @dev Node `nodeId` is on the allow-list already.
    error NodeAlreadyRegistered(bytes32 nodeId);
    /// @dev Node `nodeId` is not on the allow-list.
    error NodeNotFound(bytes32 nodeId);
    /// @dev No member has id `memberId`, so it cannot own a node.
    error NodeUnknownOwner(uint256 memberId);
    /// @dev A node's endpoint must not be empty.
    error NodeInvalidEndpoint();

    // ---- events --------------------------------------------------------------------------
    event NodeAdded(bytes32 indexed nodeId, uint256 indexed ownerMemberId, bytes publicKey, string endpoint);
    event NodeRemoved(bytes32 indexed nodeId);
    event NodeEndpointUpdated(bytes32 indexed nodeId, string endpoint);

    // ---- views ---------------------------------------------------------------------------
    /// @notice True when node `nodeId` is on the allow-list.
    function isNodeAllowed(bytes32 nodeId) external view returns (bool);

    /// @notice Node `nodeId`, allowed or removed. Reverts `NodeNotFound` if it was never added.
    function getNode(bytes32 nodeId) external view returns (Node memory);

    /// @notice Ids of every node ever added, in order of first addition (removed ones included).
    function nodeIds() external view returns (bytes32[] memory);

    /// @notice Number of nodes ever added: the length of `nodeIds()`.
    function nodeCount() external view returns (uint256);

    /// @notice Number of nodes on the allow-list now.
    function allowedNodeCount() external view returns (uint256);
}
