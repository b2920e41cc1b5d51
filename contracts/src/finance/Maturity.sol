// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMaturity} from "../interfaces/IMaturity.sol";
import {ICreditCertificates} from "../interfaces/ICreditCertificates.sol";
import {IConsortiumGovernance} from "../interfaces/IConsortiumGovernance.sol";
import {ConsortiumManaged} from "../governance/ConsortiumManaged.sol";
import {ConsortiumUpgradeable} from "../governance/ConsortiumUpgradeable.sol";

/**
 * @title Maturity
 * @notice Repayment, redemption and overdue marking of credit certificates, kept apart from
 * CreditCertificates so that the certificates contract never holds money.
 *
 * - `repay(rootId)`: the issuer pays the root's face value (nothing less) in settlement tokens
 *   into this contract, early or late; the credit line the root drew on is restored.
 * - `redeem(id)`: once the root is repaid and matured, the holder of a live certificate of it
 *   pulls its value. One certificate per call: no loop over a root's certificates.
 * - `markOverdue(rootId)`: from maturity + `GRACE_PERIOD` on, while unpaid, anyone records the
 *   root as overdue (an event for the risk reports). A late repayment still enables redemption.
 *
 * This contract holds, at any time, exactly the repaid-but-unredeemed value of all roots.
 * The issuer approves this contract on the SettlementToken for the face value before `repay`.
 */
contract Maturity is IMaturity, ConsortiumUpgradeable {
    /// @notice Governance parameter: seconds after maturity before an unpaid root is overdue.
    bytes32 public constant GRACE_PERIOD = keccak256("GRACE_PERIOD");

    ICreditCertificates private immutable _certificates;
    IERC20 private immutable _token;
    mapping(uint256 => uint64) internal _overdueAt;

    /// @param governance_ the ConsortiumGovernance contract
    /// @param certificates_ CreditCertificates (must wire this contract with `setMaturity`)
    /// @param token_ the SettlementToken (must register this contract as a system contract)
    constructor(address governance_, address certificates_, address token_) ConsortiumManaged(governance_) {
        if (certificates_ == address(0) || token_ == address(0)) revert ConsortiumZeroAddress();
        _certificates = ICreditCertificates(certificates_);
        _token = IERC20(token_);
    }

    /**
     * @notice The issuer repays root `rootId`: its face value moves from the caller to this
     * contract and the credit line it drew on is restored.
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`);
     * - `rootId` is a root (`CertificateNotFound`, `CertificateNotRoot`), not repaid yet
     *   (`CertificateRootAlreadyRepaid`);
     * - the caller is bound to its issuer, active or suspended (suspension never stops a
     *   repayment), else `CertificateUnauthorizedIssuer(caller, rootId, issuerId)`;
     * - the caller approved this contract for the face value and holds it
     *   (`ERC20InsufficientAllowance`, `ERC20InsufficientBalance`).
     *
     * Emits through the other contracts `RootRepaid`, `CreditLineRestored` and `Transfer`.
     */
    function repay(uint256 rootId) external whenNotPaused {
        uint256 amount = _certificates.recordRepayment(rootId, msg.sender);
        // The token reverts on failure (OpenZeppelin ERC20), so the return value is always true.
        _token.transferFrom(msg.sender, address(this), amount);
    }

    /**
     * @notice The holder redeems certificate `certificateId` for its whole value, paid in
     * settlement tokens to the caller.
     * @return amount what was paid
     *
     * Requirements:
     * - not paused (`ConsortiumPaused`); the certificate exists (`CertificateNotFound`);
     * - the caller is bound to its holder, active or suspended (suspension never stops a
     *   redemption), else `CertificateUnauthorizedHolder(caller, id, holderId)`;
     * - its root is repaid (`CertificateRootNotRepaid(rootId)`) and it has matured
     *   (`CertificateNotMatured(id, maturity)`);
     * - no value of it is escrowed (`CertificateLocked(id, locked)`) and it has value
     *   (`CertificateNothingToRedeem(id)`).
     *
     * Emits through the other contracts `CertificateRedeemed` and `Transfer`.
     */
    function redeem(uint256 certificateId) external whenNotPaused returns (uint256 amount) {
        amount = _certificates.recordRedemption(certificateId, msg.sender);
        // The token reverts on failure (OpenZeppelin ERC20), so the return value is always true.
        _token.transfer(msg.sender, amount);
    }

    /**
     * @notice Records that root `rootId` is overdue: unpaid at maturity + `GRACE_PERIOD`.
     * Anyone may call it.
     *
     * Requirements: not paused (`ConsortiumPaused`); `rootId` is a root (`CertificateNotFound`,
     * `CertificateNotRoot`); not repaid (`MaturityRootRepaid(rootId)`);
     * `now >= maturity + gracePeriod()` (`MaturityGracePeriodNotOver(rootId, overdueFrom)`);
     * not marked yet (`MaturityAlreadyOverdue(rootId, markedAt)`).
     *
     * Emits `RootOverdue`.
     */
    function markOverdue(uint256 rootId) external whenNotPaused {
        ICreditCertificates.Root memory root = _certificates.getRoot(rootId);
        if (root.repaidAt != 0) revert MaturityRootRepaid(rootId);
        uint256 overdueFrom = uint256(root.maturity) + gracePeriod();
        if (block.timestamp < overdueFrom) revert MaturityGracePeriodNotOver(rootId, overdueFrom);
        uint64 markedAt = _overdueAt[rootId];
        if (markedAt != 0) revert MaturityAlreadyOverdue(rootId, markedAt);
        _overdueAt[rootId] = uint64(block.timestamp);
        emit RootOverdue(rootId, root.issuerId, root.faceValue, root.maturity, msg.sender);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @inheritdoc IMaturity
    function overdueAt(uint256 rootId) external view returns (uint64) {
        return _overdueAt[rootId];
    }

    /// @inheritdoc IMaturity
    function gracePeriod() public view returns (uint256) {
        return IConsortiumGovernance(governance()).parameter(GRACE_PERIOD);
    }

    /// @notice The contracts this one works with.
    function wiring() external view returns (address certificates, address token) {
        return (address(_certificates), address(_token));
    }
}
