// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IConsortiumGovernance
 * @notice The committee of governors. Approved proposals execute calls on the consortium's
 * contracts; those contracts accept governance-only calls from this contract's address.
 */
interface IConsortiumGovernance {
    enum ProposalState {
        None,
        Pending,
        Approved, // approved but its execution failed; `execute` may retry it within its window
        Executed,
        Rejected,
        Expired, // pending past its deadline, or approved-but-failed past its execution window
        Revoked
    }

    enum VoteType {
        None,
        For,
        Against
    }

    struct ProposalView {
        uint256 id;
        address proposer;
        string description;
        address[] targets;
        bytes[] calldatas;
        uint64 createdAt;
        uint64 deadline;
        ProposalState state;
        uint256 forWeight;
        uint256 againstWeight;
        uint256 totalWeight;
        uint64 executableUntil; // 0 until approved; then the end of the execution window
    }

    // ---- errors --------------------------------------------------------------------------
    error GovernanceUnauthorizedAccount(address account);
    error GovernanceOnlySelf(address caller);
    error GovernanceProposalNotFound(uint256 proposalId);
    error GovernanceProposalNotPending(uint256 proposalId, ProposalState state);
    error GovernanceProposalNotApproved(uint256 proposalId, ProposalState state);
    error GovernanceAlreadyVoted(uint256 proposalId, address governor, VoteType vote);
    error GovernanceInvalidVote(VoteType vote);
    error GovernanceInvalidProposal(string reason);
    error GovernanceInvalidThresholds(uint256 participationPercent, uint256 winPercent);
    error GovernanceInvalidVotingPeriod(uint256 votingPeriod);
    error GovernanceGovernorLimit(uint256 max);
    error GovernanceNoGovernorsLeft();
    error GovernanceNotProposer(uint256 proposalId, address account);
    error GovernanceActionFailed(uint256 proposalId, uint256 index, bytes reason);
    error GovernancePaused();
    error GovernanceInvalidParameter(bytes32 key);

    // ---- events --------------------------------------------------------------------------
    event ProposalCreated(
        uint256 indexed proposalId,
        address indexed proposer,
        address[] targets,
        bytes[] calldatas,
        string description,
        uint64 deadline
    );
    event VoteCast(uint256 indexed proposalId, address indexed governor, VoteType vote, uint256 weight);
    event ProposalApproved(uint256 indexed proposalId);
    event ProposalExecuted(uint256 indexed proposalId);
    event ProposalExecutionFailed(uint256 indexed proposalId, bytes reason);
    event ProposalRejected(uint256 indexed proposalId);
    event ProposalRevoked(uint256 indexed proposalId);
    /// @dev A pending proposal was counted again (`retally`) with the current weights.
    event ProposalRetallied(uint256 indexed proposalId, uint256 forWeight, uint256 againstWeight, uint256 totalWeight);
    event GovernorSet(address indexed governor, uint256 weight);
    event ThresholdsSet(uint256 participationPercent, uint256 winPercent);
    event VotingPeriodSet(uint256 votingPeriod);
    event ParameterSet(bytes32 indexed key, uint256 value);
    event Paused(address indexed by);
    event Unpaused(address indexed by);

    /// @notice True while the committee has paused every business write.
    function paused() external view returns (bool);

    /// @notice A numeric consortium parameter set by governance (0 when unset).
    function parameter(bytes32 key) external view returns (uint256);
}
