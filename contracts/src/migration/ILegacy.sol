// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

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
