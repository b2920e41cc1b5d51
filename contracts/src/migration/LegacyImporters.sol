// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {InvoiceRegistry} from "../finance/InvoiceRegistry.sol";
import {CreditLines} from "../finance/CreditLines.sol";
import {SettlementToken} from "../finance/SettlementToken.sol";
import {CreditCertificates} from "../finance/CreditCertificates.sol";
import {FinancingHub} from "../finance/FinancingHub.sol";
import {Maturity} from "../finance/Maturity.sol";
import {IMemberRegistry} from "../interfaces/IMemberRegistry.sol";
import {LegacyImport} from "./LegacyImport.sol";
import {
    ILegacyInvoiceRegistry,
    ILegacyCreditLines,
    ILegacySettlementToken,
    ILegacyCreditCertificates,
    ILegacyFinancingHub,
    ILegacyMaturity
} from "./ILegacy.sol";

/*
 * The importers: each is its business contract plus an import window (LegacyImport), built
 * with the same immutables, run behind the contract's proxy only between the proposal that
 * opens the window (`upgradeToVerified(importer, hash, openImport(...))`, with the consortium
 * paused so that the legacy contracts stand still) and the one that adopts the import
 * (`closeImport(count, total)`, then `upgradeToVerified(released, hash, "")`, then unpause).
 * Records keep their ids and keys; counters start at the legacy ones, so new records follow.
 * docs/decisions/0013.
 */

/// @notice Invoices, under the key this registry derives. A legacy key was
/// keccak256(abi.encode(string creditCode, string invoiceCode, string invoiceNumber)), computed
/// by the caller; today's is derived on chain from the seller's credit-code hash. Left under
/// its legacy key, an imported invoice could be registered again under its new one and back a
/// second financing. So the importer takes the preimage (from the members' own records: the
/// read model) and checks it against the chain: the legacy key is its hash, the credit code
/// hashes to the seller's registered one, the identity is canonical today. Legacy keys are
/// found in the legacy `InvoiceRegistered` events.
contract InvoiceRegistryImport is InvoiceRegistry, LegacyImport {
    /// @dev The preimage given does not hash to the legacy key, or its credit code is not the
    /// seller's.
    error ImportInvalidPreimage(bytes32 legacyKey);
    /// @dev The legacy invoice `legacyKey` lives on as `key`.
    event LegacyInvoiceRekeyed(bytes32 indexed legacyKey, bytes32 indexed key);

    constructor(address governance_, address members_) InvoiceRegistry(governance_, members_) {}

    function openImport(address legacy) external onlyGovernance {
        _openWindow(legacy);
        _invoiceCount = ILegacyInvoiceRegistry(legacy).invoiceCount();
    }

    /// @notice Copies legacy invoice `legacyKey` under the key derived from its identity;
    /// false if it was imported before.
    function importInvoice(
        bytes32 legacyKey,
        string calldata creditCode,
        string calldata invoiceCode,
        string calldata invoiceNumber
    ) external returns (bool) {
        ILegacyInvoiceRegistry legacy = ILegacyInvoiceRegistry(_legacy());
        if (!legacy.isRegistered(legacyKey)) revert ImportNotInLegacy(legacyKey);
        if (_imported(legacyKey)) return false;
        ILegacyInvoiceRegistry.Invoice memory inv = legacy.getInvoice(legacyKey);
        bytes32 codeHash = IMemberRegistry(this.memberRegistry()).getMember(inv.sellerId).creditCodeHash;
        if (
            keccak256(abi.encode(creditCode, invoiceCode, invoiceNumber)) != legacyKey
                || keccak256(bytes(creditCode)) != codeHash
        ) revert ImportInvalidPreimage(legacyKey);
        // Reverts InvoiceInvalidIdentity for the forms the legacy rules let through (a number of
        // 9 digits, a code glued to the number): the committee decides on those first.
        bytes32 key = deriveInvoiceKey(codeHash, invoiceCode, invoiceNumber);
        _invoices[key] = StoredInvoice({
            sellerId: SafeCast.toUint64(inv.sellerId),
            buyerId: SafeCast.toUint64(inv.buyerId),
            issueDate: SafeCast.toUint40(inv.issueDate),
            dueDate: SafeCast.toUint40(inv.dueDate),
            status: InvoiceStatus(inv.status),
            amount: SafeCast.toUint128(inv.amount),
            certificateId: SafeCast.toUint64(inv.certificateId),
            documentHash: inv.documentHash
        });
        _record(legacyKey, inv.amount);
        emit LegacyInvoiceRekeyed(legacyKey, key);
        return true;
    }

    /// @dev Legacy invoice `legacyKey` was kept as it was (`kept`) or cancelled by the committee.
    event LegacyInvoiceSettled(bytes32 indexed legacyKey, bool kept);
    /// @dev Legacy invoice `legacyKey` backs a certificate: it cannot be cancelled.
    error ImportInvoiceAssigned(bytes32 legacyKey);

    /// @notice The committee's decision on a legacy invoice that cannot be re-keyed (its
    /// identity is not canonical today: a form the legacy rules let through, issue 21): it is
    /// stored under its legacy key, as an audited exception that keeps its status (`keep`), or
    /// cancelled, so that it never backs financing (refused if it backs a certificate already).
    /// Counted like an import; false if the invoice was imported or settled before.
    function settleInvoice(bytes32 legacyKey, bool keep) external onlyGovernance returns (bool) {
        ILegacyInvoiceRegistry legacy = ILegacyInvoiceRegistry(_legacy());
        if (!legacy.isRegistered(legacyKey)) revert ImportNotInLegacy(legacyKey);
        if (_imported(legacyKey)) return false;
        ILegacyInvoiceRegistry.Invoice memory inv = legacy.getInvoice(legacyKey);
        InvoiceStatus status = InvoiceStatus(inv.status);
        if (!keep) {
            if (status == InvoiceStatus.Assigned) revert ImportInvoiceAssigned(legacyKey);
            status = InvoiceStatus.Cancelled;
        }
        _invoices[legacyKey] = StoredInvoice({
            sellerId: SafeCast.toUint64(inv.sellerId),
            buyerId: SafeCast.toUint64(inv.buyerId),
            issueDate: SafeCast.toUint40(inv.issueDate),
            dueDate: SafeCast.toUint40(inv.dueDate),
            status: status,
            amount: SafeCast.toUint128(inv.amount),
            certificateId: SafeCast.toUint64(inv.certificateId),
            documentHash: inv.documentHash
        });
        _record(legacyKey, inv.amount);
        emit LegacyInvoiceSettled(legacyKey, keep);
        if (!keep) emit InvoiceCancelled(legacyKey, inv.sellerId);
        return true;
    }

    /// @notice Adoption: every legacy invoice imported, their amounts summing to `total`.
    function closeImport(uint256 count, uint256 total) external onlyGovernance {
        _requireLegacy(ILegacyInvoiceRegistry(_legacy()).invoiceCount(), count);
        _close(count, total);
    }
}

/// @notice Credit lines by id, 1 to the legacy `creditLineCount`.
contract CreditLinesImport is CreditLines, LegacyImport {
    constructor(address governance_, address members_) CreditLines(governance_, members_) {}

    function openImport(address legacy) external onlyGovernance {
        _openWindow(legacy);
        _lineCount = ILegacyCreditLines(legacy).creditLineCount();
    }

    /// @notice Copies credit line `id` from the legacy contract; false if imported before.
    function importLine(uint256 id) external returns (bool) {
        ILegacyCreditLines legacy = ILegacyCreditLines(_legacy());
        if (id == 0 || id > legacy.creditLineCount()) revert ImportNotInLegacy(bytes32(id));
        if (_imported(bytes32(id))) return false;
        ILegacyCreditLines.CreditLine memory line = legacy.getCreditLine(id);
        _lines[id] = StoredLine({
            financierId: SafeCast.toUint64(line.financierId),
            borrowerId: SafeCast.toUint64(line.borrowerId),
            expiresAt: SafeCast.toUint40(line.expiresAt),
            grantedAt: SafeCast.toUint40(line.grantedAt),
            status: CreditLineStatus(line.status),
            limit: SafeCast.toUint128(line.limit),
            used: SafeCast.toUint128(line.used)
        });
        _record(bytes32(id), line.used);
        return true;
    }

    /// @notice Adoption: every legacy line imported, `total` drawn on them.
    function closeImport(uint256 count, uint256 total) external onlyGovernance {
        _requireLegacy(ILegacyCreditLines(_legacy()).creditLineCount(), count);
        _close(count, total);
    }
}

/// @notice Balances by account; holders are found in the legacy `Transfer` events. A legacy
/// system contract's balance (Maturity holds repaid, unredeemed value) goes to its successor.
contract SettlementTokenImport is SettlementToken, LegacyImport {
    /// @dev `openImport`'s two lists differ in length, or a successor is no system contract.
    error ImportInvalidSuccessor(address successor);

    constructor(address governance_, address members_) SettlementToken(governance_, members_) {}

    /// @param legacySystem the legacy system contracts (FinancingHub, Maturity)
    /// @param successors their successors here, registered system contracts
    function openImport(address legacy, address[] calldata legacySystem, address[] calldata successors)
        external
        onlyGovernance
    {
        _openWindow(legacy);
        if (legacySystem.length != successors.length) revert ImportInvalidSuccessor(address(0));
        for (uint256 i; i < successors.length; ++i) {
            if (!_systemContracts[successors[i]]) revert ImportInvalidSuccessor(successors[i]);
            _setSuccessor(legacySystem[i], successors[i]);
        }
        _totalMinted = ILegacySettlementToken(legacy).totalMinted();
        _totalBurned = ILegacySettlementToken(legacy).totalBurned();
    }

    /// @notice Credits `account` (or its successor) with its legacy balance; false if it
    /// holds nothing there or was imported before.
    function importBalance(address account) external returns (bool) {
        ILegacySettlementToken legacy = ILegacySettlementToken(_legacy());
        bytes32 record = bytes32(uint256(uint160(account)));
        if (_imported(record)) return false;
        uint256 balance = legacy.balanceOf(account);
        if (balance == 0) return false;
        ERC20._update(address(0), _successorOf(account), balance); // the legacy token vouches
        _record(record, balance);
        return true;
    }

    /// @notice Adoption: `count` holders imported, `total` equal to the legacy supply.
    function closeImport(uint256 count, uint256 total) external onlyGovernance {
        _requireLegacy(ILegacySettlementToken(_legacy()).totalSupply(), total);
        _close(count, total);
    }
}

/// @notice Certificates by id, 1 to the legacy `certificateCount`, with lineage, locks, roots
/// and redemptions. A certificate's children are copied `CHILDREN_PER_IMPORT` per call, so a
/// certificate split thousands of times is imported by several calls, each well under the
/// node's per-transaction gas cap; it counts as imported once its last child is in.
contract CreditCertificatesImport is CreditCertificates, LegacyImport {
    /// @notice Most children one `importCertificate` call copies (about 27,000 gas each).
    uint256 public constant CHILDREN_PER_IMPORT = 64;

    /// @custom:storage-location erc7201:scf.storage.CreditCertificatesImport
    struct ChildrenCopied {
        mapping(uint256 => uint256) copied; // certificate id => children copied so far
    }

    // keccak256(abi.encode(uint256(keccak256("scf.storage.CreditCertificatesImport")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _CHILDREN_COPIED = 0xfd94cd76e60c5070c2397b43a2eab29163dc059d3a54e8d227af636c866b1f00;

    /// @dev `copied` of certificate `id`'s children are imported; more calls copy the rest.
    event LegacyChildrenImported(uint256 indexed id, uint256 copied);

    constructor(address governance_, address members_, address invoices_, address lines_)
        CreditCertificates(governance_, members_, invoices_, lines_)
    {}

    function openImport(address legacy) external onlyGovernance {
        _openWindow(legacy);
        _certificateCount = ILegacyCreditCertificates(legacy).certificateCount();
    }

    /// @notice Copies the next `CHILDREN_PER_IMPORT` children of certificate `id` and, once
    /// they are all in, the certificate (and its root record, if it is a root) from the legacy
    /// contract. True when this call completed the import; false if it was imported before or
    /// children are left for the next call (`childrenImported`).
    function importCertificate(uint256 id) external returns (bool) {
        ILegacyCreditCertificates legacy = ILegacyCreditCertificates(_legacy());
        if (id == 0 || id > legacy.certificateCount()) revert ImportNotInLegacy(bytes32(id));
        if (_imported(bytes32(id))) return false;
        ILegacyCreditCertificates.Certificate memory c = legacy.getCertificate(id);
        mapping(uint256 => uint256) storage copied = _childrenCopied().copied;
        uint256 from = copied[id];
        uint256 to = from + CHILDREN_PER_IMPORT < c.childCount ? from + CHILDREN_PER_IMPORT : c.childCount;
        for (uint256 i = from; i < to; ++i) {
            _children[id][i] = legacy.childAt(id, i);
        }
        copied[id] = to;
        if (to < c.childCount) {
            emit LegacyChildrenImported(id, to);
            return false;
        }
        _certificates[id] = StoredCertificate({
            rootId: SafeCast.toUint48(c.rootId),
            parentId: SafeCast.toUint48(c.parentId),
            holderId: SafeCast.toUint48(c.holderId),
            childCount: SafeCast.toUint48(c.childCount),
            createdAt: SafeCast.toUint40(c.createdAt),
            depth: SafeCast.toUint24(c.depth),
            value: SafeCast.toUint128(c.value),
            locked: SafeCast.toUint128(c.locked)
        });
        if (c.redeemedAt != 0) {
            _redemptions[id] =
                Redemption({value: SafeCast.toUint128(c.redeemedValue), at: SafeCast.toUint40(c.redeemedAt)});
        }
        if (c.rootId == id) _importRoot(legacy, id);
        _record(bytes32(id), c.value);
        return true;
    }

    /// @notice How many of certificate `id`'s children are imported so far.
    function childrenImported(uint256 id) external view returns (uint256) {
        return _childrenCopied().copied[id];
    }

    /// @notice Adoption: every legacy certificate imported, `total` their live value.
    function closeImport(uint256 count, uint256 total) external onlyGovernance {
        _requireLegacy(ILegacyCreditCertificates(_legacy()).certificateCount(), count);
        _close(count, total);
    }

    function _childrenCopied() private pure returns (ChildrenCopied storage c) {
        bytes32 slot = _CHILDREN_COPIED;
        assembly {
            c.slot := slot
        }
    }

    function _importRoot(ILegacyCreditCertificates legacy, uint256 id) private {
        ILegacyCreditCertificates.Root memory r = legacy.getRoot(id);
        _roots[id] = StoredRoot({
            issuerId: SafeCast.toUint48(r.issuerId),
            lineId: SafeCast.toUint48(r.lineId),
            maturity: SafeCast.toUint40(r.maturity),
            issuedAt: SafeCast.toUint40(r.issuedAt),
            repaidAt: SafeCast.toUint40(r.repaidAt),
            faceValue: SafeCast.toUint128(r.faceValue),
            redeemedValue: SafeCast.toUint128(r.redeemedValue)
        });
    }
}

/// @notice Financing requests by id, 1 to the legacy `requestCount`. Legacy requests carry no
/// seller terms: they are imported with `maxRateBps` 0, so a pending one cannot be approved at
/// any positive rate; its requester cancels it and asks again with terms.
contract FinancingHubImport is FinancingHub, LegacyImport {
    constructor(address governance_, address members_, address certificates_, address token_)
        FinancingHub(governance_, members_, certificates_, token_)
    {}

    function openImport(address legacy) external onlyGovernance {
        _openWindow(legacy);
        _requestCount = ILegacyFinancingHub(legacy).requestCount();
    }

    /// @notice Copies request `id` from the legacy hub; false if imported before.
    function importRequest(uint256 id) external returns (bool) {
        ILegacyFinancingHub legacy = ILegacyFinancingHub(_legacy());
        if (id == 0 || id > legacy.requestCount()) revert ImportNotInLegacy(bytes32(id));
        if (_imported(bytes32(id))) return false;
        ILegacyFinancingHub.FinancingRequest memory r = legacy.getRequest(id);
        _requests[id] = StoredRequest({
            certificateId: SafeCast.toUint48(r.certificateId),
            requesterId: SafeCast.toUint48(r.requesterId),
            financierId: SafeCast.toUint48(r.financierId),
            createdAt: SafeCast.toUint40(r.createdAt),
            expiresAt: SafeCast.toUint40(r.expiresAt),
            status: FinancingStatus(r.status),
            rateBps: SafeCast.toUint16(r.rateBps),
            requesterAccount: r.requesterAccount,
            financedCertificateId: SafeCast.toUint48(r.financedCertificateId),
            closedAt: SafeCast.toUint40(r.closedAt),
            amount: SafeCast.toUint128(r.amount),
            price: SafeCast.toUint128(r.price),
            agreementHash: r.agreementHash,
            maxRateBps: 0
        });
        _record(bytes32(id), r.amount);
        return true;
    }

    /// @notice Adoption: every legacy request imported, `total` their escrowed amounts.
    function closeImport(uint256 count, uint256 total) external onlyGovernance {
        _requireLegacy(ILegacyFinancingHub(_legacy()).requestCount(), count);
        _close(count, total);
    }
}

/// @notice Overdue marks by root id; the marked roots are found in the legacy `RootOverdue`
/// events.
contract MaturityImport is Maturity, LegacyImport {
    constructor(address governance_, address certificates_, address token_)
        Maturity(governance_, certificates_, token_)
    {}

    function openImport(address legacy) external onlyGovernance {
        _openWindow(legacy);
    }

    /// @notice Copies root `rootId`'s overdue mark; false if imported before.
    function importOverdue(uint256 rootId) external returns (bool) {
        uint64 at = ILegacyMaturity(_legacy()).overdueAt(rootId);
        if (at == 0) revert ImportNotInLegacy(bytes32(rootId));
        if (_imported(bytes32(rootId))) return false;
        _overdueAt[rootId] = at;
        _record(bytes32(rootId), 0);
        return true;
    }

    /// @notice Adoption: `count` overdue marks imported (`total` is 0: marks carry no value).
    function closeImport(uint256 count, uint256 total) external onlyGovernance {
        _close(count, total);
    }
}
