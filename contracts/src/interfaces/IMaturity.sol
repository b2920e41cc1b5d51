// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IMaturity
 * @notice Maturity of credit certificates. The issuer repays a root's face value in settlement
 * tokens into this contract; from maturity on, each holder of a live certificate of that root
 * redeems it (pull) for its value. An unpaid root becomes overdue once the governance grace
 * period after maturity has passed; anyone may then record it.
 */
interface IMaturity {
    // ---- errors --------------------------------------------------------------------------
    /// @dev Root `rootId` is repaid: it cannot be overdue.
    error MaturityRootRepaid(uint256 rootId);
    /// @dev Root `rootId` becomes overdue only at `overdueFrom` (maturity + grace period).
    error MaturityGracePeriodNotOver(uint256 rootId, uint256 overdueFrom);
    /// @dev Root `rootId` was marked overdue already, at `markedAt`.
    error MaturityAlreadyOverdue(uint256 rootId, uint64 markedAt);

    // ---- events --------------------------------------------------------------------------
    /// @dev Unpaid root `rootId` of `issuerId` (`faceValue`, due at `maturity`) is overdue.
    event RootOverdue(
        uint256 indexed rootId, uint256 indexed issuerId, uint256 faceValue, uint64 maturity, address markedBy
    );

    // ---- writes --------------------------------------------------------------------------
    function repay(uint256 rootId) external;

    function redeem(uint256 certificateId) external returns (uint256 amount);

    function markOverdue(uint256 rootId) external;

    // ---- views ---------------------------------------------------------------------------
    /// @notice When root `rootId` was marked overdue, 0 if never.
    function overdueAt(uint256 rootId) external view returns (uint64);

    /// @notice The governance grace period after maturity, in seconds.
    function gracePeriod() external view returns (uint256);
}
