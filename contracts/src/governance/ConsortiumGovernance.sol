// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumGovernance} from "../interfaces/IConsortiumGovernance.sol";

/**
 * @title ConsortiumGovernance
 * @notice The consortium committee, in the style of the FISCO BCOS committee: governors with
 * weights vote on proposals; a proposal is a batch of calls on the consortium's contracts
 * (admit a member, add a node, change a governor, pause ...). A proposal is approved when the
 * weight that voted reaches the participation threshold and the weight in favour reaches the
 * win threshold of the weight that voted; it then executes at once, all actions or none.
 *
 * Tallies always use the governors' CURRENT weights and thresholds: a removed governor's vote
 * counts 0. A change of weights or thresholds takes effect for a pending proposal at its next
 * tally: the next vote, or `retally`, which any governor may call when every remaining
 * governor has voted already (docs/decisions/0010). A pending proposal that no vote carries expires at its
 * deadline. One governor holding all the weight is plain admin mode: its proposals execute on
 * creation.
 *
 * An approved proposal whose execution failed may be retried with `execute` only within the
 * execution window: one voting period (as set at approval) from its approval. After that it
 * reads Expired, so a lone governor cannot execute an old approval the committee has moved on
 * from.
 *
 * @dev A proposal's voters are kept in a per-proposal array. It never exceeds
 * `MAX_GOVERNORS` entries: when it is full, a newcomer takes the slot of a voter that is no
 * longer a governor (one must exist, since at most `MAX_GOVERNORS` governors exist at a time).
 * So every tally loops at most `MAX_GOVERNORS` times and every execution `MAX_ACTIONS` times.
 */
contract ConsortiumGovernance is IConsortiumGovernance {
    /// @notice Most governors the committee may have at one time.
    uint256 public constant MAX_GOVERNORS = 32;
    /// @notice Most calls one proposal may carry.
    uint256 public constant MAX_ACTIONS = 16;
    /// @notice Largest weight of one governor (keeps every tally far from overflow).
    uint256 public constant MAX_WEIGHT = type(uint64).max;
    /// @notice Longest voting period, in seconds.
    uint256 public constant MAX_VOTING_PERIOD = 365 days;

    /// @dev `governor` cannot be a governor with `weight` (zero address, this contract, a weight
    /// of 0 or above `MAX_WEIGHT`, or listed twice in the constructor).
    error GovernanceInvalidGovernor(address governor, uint256 weight);
    /// @dev `governor` is not a governor, so it cannot be removed.
    error GovernanceUnknownGovernor(address governor);
    /// @dev The constructor got `governors` addresses but `weights` weights.
    error GovernanceGovernorsMismatch(uint256 governors, uint256 weights);
    /// @dev `unpause` was called while not paused.
    error GovernanceNotPaused();
    /// @dev The transaction ran (nearly) out of gas while executing approved proposal
    /// `proposalId`; send it again with more gas.
    error GovernanceInsufficientGas(uint256 proposalId);

    struct Proposal {
        address proposer;
        uint64 createdAt;
        uint64 deadline; // last second at which votes are accepted
        ProposalState state; // stored state; Expired is derived from the deadline
        uint256 forWeight; // as of the latest tally
        uint256 againstWeight;
        uint256 totalWeight;
        string description;
        address[] targets;
        bytes[] calldatas;
        address[] voters;
        mapping(address => VoteType) votes;
        uint64 executableUntil; // set at approval: last second at which `execute` may retry
    }

    mapping(uint256 => Proposal) private _proposals;
    uint256 private _proposalCount;

    address[] private _governors;
    mapping(address => uint256) private _governorSlot; // index in _governors + 1, 0 = none
    mapping(address => uint256) private _weights;
    uint256 private _totalWeight;

    uint256 private _participationPercent;
    uint256 private _winPercent;
    uint256 private _votingPeriod;

    mapping(bytes32 => uint256) private _parameters;
    bool private _paused;

    modifier onlyGovernor() {
        if (_weights[msg.sender] == 0) revert GovernanceUnauthorizedAccount(msg.sender);
        _;
    }

    modifier onlySelf() {
        if (msg.sender != address(this)) revert GovernanceOnlySelf(msg.sender);
        _;
    }

    /**
     * @notice Creates the committee.
     * @param governors_ the first governors, distinct, at most `MAX_GOVERNORS`
     * @param weights_ their weights, each 1..`MAX_WEIGHT`
     * @param participationPercent_ share of the total weight (1..100) that must vote
     * @param winPercent_ share of the weight that voted (1..100) that must vote For
     * @param votingPeriod_ seconds a proposal stays open, 1..`MAX_VOTING_PERIOD`
     *
     * Requirements: see the parameters; else `GovernanceGovernorsMismatch`,
     * `GovernanceNoGovernorsLeft`, `GovernanceGovernorLimit`, `GovernanceInvalidGovernor`,
     * `GovernanceInvalidThresholds` or `GovernanceInvalidVotingPeriod`.
     *
     * Emits `GovernorSet` per governor, `ThresholdsSet` and `VotingPeriodSet`.
     */
    constructor(
        address[] memory governors_,
        uint256[] memory weights_,
        uint256 participationPercent_,
        uint256 winPercent_,
        uint256 votingPeriod_
    ) {
        if (governors_.length != weights_.length) {
            revert GovernanceGovernorsMismatch(governors_.length, weights_.length);
        }
        if (governors_.length == 0) revert GovernanceNoGovernorsLeft();
        if (governors_.length > MAX_GOVERNORS) revert GovernanceGovernorLimit(MAX_GOVERNORS);
        for (uint256 i = 0; i < governors_.length; ++i) {
            if (weights_[i] == 0 || _weights[governors_[i]] != 0) {
                revert GovernanceInvalidGovernor(governors_[i], weights_[i]);
            }
            _setGovernor(governors_[i], weights_[i]);
        }
        _setThresholds(participationPercent_, winPercent_);
        _setVotingPeriod(votingPeriod_);
    }

    // ---- proposals --------------------------------------------------------------------------

    /**
     * @notice Proposes a batch of calls; the proposer's own vote For is counted at once, so a
     * governor holding enough weight alone (admin mode) executes it in this transaction.
     * @return proposalId the new proposal's id (ids run from 1)
     *
     * Requirements:
     * - the caller is a governor, else `GovernanceUnauthorizedAccount(caller)`;
     * - 1..`MAX_ACTIONS` actions, as many calldatas as targets, no zero target, else
     *   `GovernanceInvalidProposal(reason)`;
     * - when it executes at once, enough gas for its actions, else
     *   `GovernanceInsufficientGas(id)`.
     *
     * Emits `ProposalCreated`, `VoteCast`, then possibly `ProposalApproved` and
     * `ProposalExecuted` / `ProposalExecutionFailed`, or `ProposalRejected`.
     */
    function propose(address[] calldata targets, bytes[] calldata calldatas, string calldata description)
        external
        onlyGovernor
        returns (uint256 proposalId)
    {
        return _propose(msg.sender, targets, calldatas, description);
    }

    /**
     * @notice Casts or changes the caller's vote on a pending proposal, then tallies it.
     *
     * Requirements:
     * - the caller is a governor, else `GovernanceUnauthorizedAccount(caller)`;
     * - `support` is For or Against, else `GovernanceInvalidVote(support)`;
     * - the proposal exists (`GovernanceProposalNotFound`) and is pending and not past its
     *   deadline (`GovernanceProposalNotPending(id, state)`);
     * - the vote differs from the caller's current one, else `GovernanceAlreadyVoted`;
     * - when the vote approves the proposal, enough gas for its actions, else
     *   `GovernanceInsufficientGas(id)`.
     *
     * Emits `VoteCast`, then possibly `ProposalApproved` and `ProposalExecuted` /
     * `ProposalExecutionFailed`, or `ProposalRejected`.
     */
    function vote(uint256 proposalId, VoteType support) external onlyGovernor {
        _vote(proposalId, msg.sender, support);
    }

    /**
     * @notice Executes an approved proposal whose automatic execution failed (retry after the
     * cause was fixed). All actions run, or the call reverts.
     *
     * Requirements:
     * - the caller is a governor, else `GovernanceUnauthorizedAccount(caller)`;
     * - the proposal exists and is Approved within its execution window (`executableUntil`),
     *   else `GovernanceProposalNotApproved(id, state)` (state Expired after the window);
     * - every action succeeds, else `GovernanceActionFailed(id, index, returndata)`.
     *
     * Emits `ProposalExecuted` (and whatever the actions emit).
     */
    function execute(uint256 proposalId) external onlyGovernor {
        _requireExists(proposalId);
        _execute(proposalId);
    }

    /**
     * @notice Counts a pending proposal's votes again with the current weights and thresholds
     * and settles it if it can be: approved (and executed) or rejected. For a proposal whose
     * outcome a change of the committee decided while no one is left to vote on it.
     *
     * Requirements:
     * - the caller is a governor, else `GovernanceUnauthorizedAccount(caller)`;
     * - the proposal exists (`GovernanceProposalNotFound`) and is pending and not past its
     *   deadline (`GovernanceProposalNotPending(id, state)`);
     * - when it approves the proposal, enough gas for its actions, else
     *   `GovernanceInsufficientGas(id)`.
     *
     * Emits `ProposalRetallied`, then possibly `ProposalApproved` and `ProposalExecuted` /
     * `ProposalExecutionFailed`, or `ProposalRejected`.
     */
    function retally(uint256 proposalId) external onlyGovernor {
        _requirePending(proposalId);
        _count(proposalId);
        Proposal storage p = _proposals[proposalId];
        emit ProposalRetallied(proposalId, p.forWeight, p.againstWeight, p.totalWeight);
        _settle(proposalId);
    }

    /**
     * @notice Runs the actions of an approved proposal. Only this contract calls it, so that a
     * failing batch reverts as a whole while the approval itself stays recorded.
     *
     * Requirements:
     * - the caller is this contract, else `GovernanceOnlySelf(caller)`;
     * - the proposal is Approved and every action succeeds (see `execute`).
     *
     * Emits `ProposalExecuted`.
     */
    function executeActions(uint256 proposalId) external onlySelf {
        _requireExists(proposalId);
        _execute(proposalId);
    }

    /**
     * @notice Withdraws a pending proposal.
     *
     * Requirements:
     * - the proposal exists and is pending (not expired), else `GovernanceProposalNotFound` /
     *   `GovernanceProposalNotPending(id, state)`;
     * - the caller proposed it, else `GovernanceNotProposer(id, caller)`.
     *
     * Emits `ProposalRevoked`.
     */
    function revoke(uint256 proposalId) external {
        _requirePending(proposalId);
        if (_proposals[proposalId].proposer != msg.sender) revert GovernanceNotProposer(proposalId, msg.sender);
        _setState(proposalId, ProposalState.Revoked);
    }

    // ---- self-governed settings (called by executed proposals) ----------------------------------

    /**
     * @notice Adds a governor, changes its weight, or removes it (`weight` 0).
     *
     * Requirements:
     * - called by this contract through a proposal, else `GovernanceOnlySelf(caller)`;
     * - `governor` is neither zero nor this contract and `weight` <= `MAX_WEIGHT`, else
     *   `GovernanceInvalidGovernor(governor, weight)`;
     * - adding: fewer than `MAX_GOVERNORS` governors, else `GovernanceGovernorLimit`;
     * - removing: `governor` is one (`GovernanceUnknownGovernor`) and not the last one
     *   (`GovernanceNoGovernorsLeft`).
     *
     * Emits `GovernorSet`.
     */
    function setGovernor(address governor, uint256 weight) external onlySelf {
        _setGovernor(governor, weight);
    }

    /**
     * @notice Sets the participation and win thresholds, in percent.
     *
     * Requirements: called by this contract (`GovernanceOnlySelf`); both in 1..100, else
     * `GovernanceInvalidThresholds(participationPercent, winPercent)`.
     *
     * Emits `ThresholdsSet`.
     */
    function setThresholds(uint256 participationPercent_, uint256 winPercent_) external onlySelf {
        _setThresholds(participationPercent_, winPercent_);
    }

    /**
     * @notice Sets how long new proposals stay open, in seconds.
     *
     * Requirements: called by this contract (`GovernanceOnlySelf`); 1..`MAX_VOTING_PERIOD`,
     * else `GovernanceInvalidVotingPeriod(votingPeriod)`.
     *
     * Emits `VotingPeriodSet`.
     */
    function setVotingPeriod(uint256 votingPeriod_) external onlySelf {
        _setVotingPeriod(votingPeriod_);
    }

    /**
     * @notice Sets a numeric consortium parameter read by the business contracts.
     *
     * Requirements: called by this contract (`GovernanceOnlySelf`); `key` is not zero, else
     * `GovernanceInvalidParameter(key)`.
     *
     * Emits `ParameterSet`.
     */
    function setParameter(bytes32 key, uint256 value) external onlySelf {
        if (key == bytes32(0)) revert GovernanceInvalidParameter(key);
        _parameters[key] = value;
        emit ParameterSet(key, value);
    }

    /**
     * @notice Pauses every business write of the consortium. Governance keeps working.
     *
     * Requirements: called by this contract (`GovernanceOnlySelf`); not paused already, else
     * `GovernancePaused()`.
     *
     * Emits `Paused`.
     */
    function pause() external onlySelf {
        if (_paused) revert GovernancePaused();
        _paused = true;
        emit Paused(msg.sender);
    }

    /**
     * @notice Lifts the pause.
     *
     * Requirements: called by this contract (`GovernanceOnlySelf`); paused, else
     * `GovernanceNotPaused()`.
     *
     * Emits `Unpaused`.
     */
    function unpause() external onlySelf {
        if (!_paused) revert GovernanceNotPaused();
        _paused = false;
        emit Unpaused(msg.sender);
    }

    // ---- views ------------------------------------------------------------------------------

    /// @notice The state of a proposal; a pending one past its deadline reads Expired.
    /// Reverts `GovernanceProposalNotFound` for an unknown id.
    function state(uint256 proposalId) external view returns (ProposalState) {
        _requireExists(proposalId);
        return _stateOf(proposalId);
    }

    /// @notice Everything about a proposal; weights are those of its latest tally.
    /// Reverts `GovernanceProposalNotFound` for an unknown id.
    function getProposal(uint256 proposalId) external view returns (ProposalView memory) {
        _requireExists(proposalId);
        Proposal storage p = _proposals[proposalId];
        return ProposalView({
            id: proposalId,
            proposer: p.proposer,
            description: p.description,
            targets: p.targets,
            calldatas: p.calldatas,
            createdAt: p.createdAt,
            deadline: p.deadline,
            state: _stateOf(proposalId),
            forWeight: p.forWeight,
            againstWeight: p.againstWeight,
            totalWeight: p.totalWeight,
            executableUntil: p.executableUntil
        });
    }

    /// @notice Number of proposals ever made; ids run from 1 to this value.
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @notice The vote `governor` cast on a proposal (None if it did not vote).
    function voteOf(uint256 proposalId, address governor) external view returns (VoteType) {
        return _proposals[proposalId].votes[governor];
    }

    /// @notice The addresses whose votes a proposal records (at most `MAX_GOVERNORS`).
    function votersOf(uint256 proposalId) external view returns (address[] memory) {
        return _proposals[proposalId].voters;
    }

    /// @notice The current governors.
    function governors() external view returns (address[] memory) {
        return _governors;
    }

    /// @notice True when `account` is a governor.
    function isGovernor(address account) external view returns (bool) {
        return _weights[account] != 0;
    }

    /// @notice The weight of `account` (0 if it is not a governor).
    function weightOf(address account) external view returns (uint256) {
        return _weights[account];
    }

    /// @notice Sum of the governors' weights.
    function totalWeight() external view returns (uint256) {
        return _totalWeight;
    }

    /// @notice Share of the total weight, in percent, that must vote for a decision.
    function participationPercent() external view returns (uint256) {
        return _participationPercent;
    }

    /// @notice Share of the weight that voted, in percent, that must vote For.
    function winPercent() external view returns (uint256) {
        return _winPercent;
    }

    /// @notice Seconds a new proposal stays open for votes.
    function votingPeriod() external view returns (uint256) {
        return _votingPeriod;
    }

    /// @inheritdoc IConsortiumGovernance
    function parameter(bytes32 key) external view returns (uint256) {
        return _parameters[key];
    }

    /// @inheritdoc IConsortiumGovernance
    function paused() external view returns (bool) {
        return _paused;
    }

    // ---- internals --------------------------------------------------------------------------

    function _propose(
        address proposer,
        address[] calldata targets,
        bytes[] calldata calldatas,
        string calldata description
    ) internal returns (uint256 proposalId) {
        uint256 n = targets.length;
        if (n == 0) revert GovernanceInvalidProposal("no actions");
        if (n > MAX_ACTIONS) revert GovernanceInvalidProposal("too many actions");
        if (calldatas.length != n) revert GovernanceInvalidProposal("targets and calldatas differ in length");

        proposalId = ++_proposalCount;
        Proposal storage p = _proposals[proposalId];
        for (uint256 i = 0; i < n; ++i) {
            if (targets[i] == address(0)) revert GovernanceInvalidProposal("zero target");
            p.targets.push(targets[i]);
            p.calldatas.push(calldatas[i]);
        }
        p.proposer = proposer;
        p.createdAt = uint64(block.timestamp);
        p.deadline = uint64(block.timestamp + _votingPeriod);
        p.description = description;
        p.state = ProposalState.Pending;
        emit ProposalCreated(proposalId, proposer, targets, calldatas, description, p.deadline);
        _castProposerVote(proposalId, proposer);
    }

    /// @dev Creating a proposal counts as its proposer's vote For.
    function _castProposerVote(uint256 proposalId, address proposer) private {
        Proposal storage p = _proposals[proposalId];
        p.voters.push(proposer);
        p.votes[proposer] = VoteType.For;
        emit VoteCast(proposalId, proposer, VoteType.For, _weights[proposer]);
        _tally(proposalId);
    }

    function _vote(uint256 proposalId, address governor, VoteType support) internal {
        if (support == VoteType.None) revert GovernanceInvalidVote(support);
        _requirePending(proposalId);
        Proposal storage p = _proposals[proposalId];
        VoteType previous = p.votes[governor];
        if (previous == support) revert GovernanceAlreadyVoted(proposalId, governor, support);
        if (previous == VoteType.None) _addVoter(p, governor);
        p.votes[governor] = support;
        emit VoteCast(proposalId, governor, support, _weights[governor]);
        _tally(proposalId);
    }

    /// @dev Records `governor` as a voter, reusing the slot of a former governor when full.
    function _addVoter(Proposal storage p, address governor) private {
        uint256 n = p.voters.length;
        if (n < MAX_GOVERNORS) {
            p.voters.push(governor);
            return;
        }
        for (uint256 i = 0; i < n; ++i) {
            address former = p.voters[i];
            if (_weights[former] == 0) {
                delete p.votes[former];
                p.voters[i] = governor;
                return;
            }
        }
        revert GovernanceGovernorLimit(MAX_GOVERNORS); // unreachable: see the contract's @dev
    }

    /// @dev Counts the votes with current weights and settles the proposal when it can be.
    function _tally(uint256 proposalId) private {
        _count(proposalId);
        _settle(proposalId);
    }

    /// @dev Records the proposal's weights For, Against and in total, as of now.
    function _count(uint256 proposalId) private {
        Proposal storage p = _proposals[proposalId];
        uint256 forWeight;
        uint256 againstWeight;
        uint256 n = p.voters.length;
        for (uint256 i = 0; i < n; ++i) {
            address voter = p.voters[i];
            VoteType v = p.votes[voter];
            if (v == VoteType.For) forWeight += _weights[voter];
            else if (v == VoteType.Against) againstWeight += _weights[voter];
        }
        uint256 total = _totalWeight;
        p.forWeight = forWeight;
        p.againstWeight = againstWeight;
        p.totalWeight = total;
    }

    /// @dev Approves (and executes) or rejects the proposal when its recorded weights decide it.
    function _settle(uint256 proposalId) private {
        Proposal storage p = _proposals[proposalId];
        uint256 forWeight = p.forWeight;
        uint256 againstWeight = p.againstWeight;
        uint256 total = p.totalWeight;
        uint256 cast = forWeight + againstWeight;
        if (cast * 100 >= _participationPercent * total && forWeight * 100 >= _winPercent * cast) {
            _setState(proposalId, ProposalState.Approved);
            _tryExecute(proposalId);
        } else if ((total - againstWeight) * 100 < _winPercent * total) {
            _setState(proposalId, ProposalState.Rejected);
        }
    }

    /// @dev Executes an approved proposal atomically; on failure it stays Approved for `execute`.
    /// A failed execution that used up nearly all the gas it was given (more than 7/8: an
    /// out-of-gas at any call depth leaves only about 1/64 per level) reverts the whole
    /// transaction with `GovernanceInsufficientGas` instead. So a vote sent with too little gas
    /// never marks a proposal as failed, and binary-search gas estimation finds enough gas for
    /// the actions. Only a batch that burns any amount of gas cannot be carried; it expires.
    function _tryExecute(uint256 proposalId) private {
        uint256 gasBefore = gasleft();
        try this.executeActions(proposalId) {
            // executed: `_execute` emitted ProposalExecuted
        } catch (bytes memory reason) {
            if (gasleft() < gasBefore / 8) revert GovernanceInsufficientGas(proposalId);
            emit ProposalExecutionFailed(proposalId, reason);
        }
    }

    function _execute(uint256 proposalId) private {
        ProposalState current = _stateOf(proposalId);
        if (current != ProposalState.Approved) revert GovernanceProposalNotApproved(proposalId, current);
        _setState(proposalId, ProposalState.Executed); // before the calls: no second execution
        Proposal storage p = _proposals[proposalId];
        uint256 n = p.targets.length;
        for (uint256 i = 0; i < n; ++i) {
            (bool ok, bytes memory returndata) = p.targets[i].call(p.calldatas[i]);
            if (!ok) revert GovernanceActionFailed(proposalId, i, returndata);
        }
        emit ProposalExecuted(proposalId); // after the actions' own events: the batch is complete
    }

    /// @dev The one place where a proposal changes state; emits the matching event, except for
    /// Executed, whose event `_execute` emits once every action has run.
    function _setState(uint256 proposalId, ProposalState next) private {
        Proposal storage p = _proposals[proposalId];
        p.state = next;
        if (next == ProposalState.Approved) {
            p.executableUntil = uint64(block.timestamp + _votingPeriod);
            emit ProposalApproved(proposalId);
        } else if (next == ProposalState.Rejected) emit ProposalRejected(proposalId);
        else if (next == ProposalState.Revoked) emit ProposalRevoked(proposalId);
    }

    function _setGovernor(address governor, uint256 weight) private {
        if (governor == address(0) || governor == address(this) || weight > MAX_WEIGHT) {
            revert GovernanceInvalidGovernor(governor, weight);
        }
        uint256 slot = _governorSlot[governor];
        if (weight == 0) {
            if (slot == 0) revert GovernanceUnknownGovernor(governor);
            if (_governors.length == 1) revert GovernanceNoGovernorsLeft();
            address last = _governors[_governors.length - 1];
            _governors[slot - 1] = last;
            _governorSlot[last] = slot;
            _governors.pop();
            delete _governorSlot[governor];
        } else if (slot == 0) {
            if (_governors.length >= MAX_GOVERNORS) revert GovernanceGovernorLimit(MAX_GOVERNORS);
            _governors.push(governor);
            _governorSlot[governor] = _governors.length;
        }
        _totalWeight = _totalWeight - _weights[governor] + weight;
        _weights[governor] = weight;
        emit GovernorSet(governor, weight);
    }

    function _setThresholds(uint256 participationPercent_, uint256 winPercent_) private {
        if (participationPercent_ == 0 || participationPercent_ > 100 || winPercent_ == 0 || winPercent_ > 100) {
            revert GovernanceInvalidThresholds(participationPercent_, winPercent_);
        }
        _participationPercent = participationPercent_;
        _winPercent = winPercent_;
        emit ThresholdsSet(participationPercent_, winPercent_);
    }

    function _setVotingPeriod(uint256 votingPeriod_) private {
        if (votingPeriod_ == 0 || votingPeriod_ > MAX_VOTING_PERIOD) revert GovernanceInvalidVotingPeriod(votingPeriod_);
        _votingPeriod = votingPeriod_;
        emit VotingPeriodSet(votingPeriod_);
    }

    function _requireExists(uint256 proposalId) private view {
        if (proposalId == 0 || proposalId > _proposalCount) revert GovernanceProposalNotFound(proposalId);
    }

    function _requirePending(uint256 proposalId) private view {
        _requireExists(proposalId);
        ProposalState current = _stateOf(proposalId);
        if (current != ProposalState.Pending) revert GovernanceProposalNotPending(proposalId, current);
    }

    function _stateOf(uint256 proposalId) private view returns (ProposalState) {
        Proposal storage p = _proposals[proposalId];
        ProposalState stored = p.state;
        if (stored == ProposalState.Pending && block.timestamp > p.deadline) return ProposalState.Expired;
        if (stored == ProposalState.Approved && block.timestamp > p.executableUntil) return ProposalState.Expired;
        return stored;
    }
}
