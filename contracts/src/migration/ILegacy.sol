// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {INodeRegistry} from "../interfaces/INodeRegistry.sol";

/**
 * @notice The public views of the business contracts as deployed before issue 21 (commit
 * 95f011a; tests/contracts/fixtures/legacy), which the importers read. Only what they read.
 * The enums are the current ones: their members did not change.
 */
interface ILegacyInvoiceRegistry {
    struct Invoice {
        bytes32 key;
        uint256 sellerId;
        uint256 buyerId;
        uint256 amount;
        uint64 issueDate;
        uint64 dueDate;
        bytes32 documentHash;
        uint8 status;
        uint256 certificateId;
    }

    function getInvoice(bytes32 key) external view returns (Invoice memory);
    function isRegistered(bytes32 key) external view returns (bool);
    function invoiceCount() external view returns (uint256);
}

interface ILegacyCreditLines {
    struct CreditLine {
        uint256 id;
        uint256 financierId;
        uint256 borrowerId;
        uint256 limit;
        uint256 used;
        uint64 expiresAt;
        uint64 grantedAt;
        uint8 status;
    }

    function getCreditLine(uint256 lineId) external view returns (CreditLine memory);
    function creditLineCount() external view returns (uint256);
}

interface ILegacySettlementToken {
    function balanceOf(address account) external view returns (uint256);
    function totalSupply() external view returns (uint256);
    function totalMinted() external view returns (uint256);
    function totalBurned() external view returns (uint256);
}

interface ILegacyCreditCertificates {
    struct Certificate {
        uint256 id;
        uint256 rootId;
        uint256 parentId;
        uint256 issuerId;
        uint256 holderId;
        uint256 value;
        uint256 locked;
        uint256 redeemedValue;
        uint64 maturity;
        uint64 createdAt;
        uint64 redeemedAt;
        uint256 depth;
        uint256 childCount;
    }

    struct Root {
        uint256 id;
        uint256 issuerId;
        uint256 lineId;
        uint256 faceValue;
        uint256 redeemedValue;
        uint64 maturity;
        uint64 issuedAt;
        uint64 repaidAt;
    }

    function getCertificate(uint256 id) external view returns (Certificate memory);
    function getRoot(uint256 rootId) external view returns (Root memory);
    function childAt(uint256 id, uint256 index) external view returns (uint256);
    function certificateCount() external view returns (uint256);
}

interface ILegacyFinancingHub {
    struct FinancingRequest {
        uint256 id;
        uint256 certificateId;
        uint256 requesterId;
        address requesterAccount;
        uint256 financierId;
        uint256 amount;
        bytes32 agreementHash;
        uint64 createdAt;
        uint64 expiresAt;
        uint8 status;
        uint256 rateBps;
        uint256 price;
        uint256 financedCertificateId;
        uint64 closedAt;
    }

    function getRequest(uint256 requestId) external view returns (FinancingRequest memory);
    function requestCount() external view returns (uint256);
}

interface ILegacyMaturity {
    function overdueAt(uint256 rootId) external view returns (uint64);
}

/// @notice The legacy governance: what an importer checks before it opens (the committee handed
/// over to the successor governance, the consortium paused) and what a node copies.
interface ILegacyGovernance {
    function governors() external view returns (address[] memory);
    function paused() external view returns (bool);
}

/// @notice Any legacy consortium contract: the governance it obeys.
interface ILegacyManaged {
    function governance() external view returns (address);
}

/// @notice The legacy MemberRegistry. Its `Member` struct is today's (it did not change).
interface ILegacyMemberRegistry {
    function getMember(uint256 memberId) external view returns (IMemberRegistry.Member memory);
    function accountsOf(uint256 memberId) external view returns (address[] memory);
    function memberCount() external view returns (uint256);
}

/// @notice The legacy NodeRegistry (unchanged since: its `Node` struct is today's).
interface ILegacyNodeRegistry {
    function getNode(bytes32 nodeId) external view returns (INodeRegistry.Node memory);
    function nodeIds() external view returns (bytes32[] memory);
    function nodeCount() external view returns (uint256);
    function allowedNodeCount() external view returns (uint256);
}
