// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/**
 * @title ISettlementToken
 * @notice A permissioned ERC-20 "digital deposit" in CNY (2 decimals: 1 token unit = 1 fen).
 * FINANCIER members mint it against off-chain deposits and burn their own on withdrawal;
 * it moves only between active members and the system contracts that governance registered
 * (FinancingHub, Maturity); a suspended member's account still pays and is paid by those.
 * Governance's global pause stops every balance change. A financier's outstanding issuance
 * (minted minus burned) is capped by governance.
 */
interface ISettlementToken is IERC20 {
    // ---- errors --------------------------------------------------------------------------
    /// @dev Mint and burn amounts must be above zero.
    error SettlementInvalidAmount(uint256 amount);
    /// @dev `account` is neither bound to an active member nor a registered system contract
    /// (or, for a mint, is a system contract).
    error SettlementUnauthorizedParticipant(address account);
    /// @dev `account` is a system contract already (`allowed` true) or not one (`allowed` false).
    error SettlementSystemContractUnchanged(address account, bool allowed);
    /// @dev Financier `financierId` has `outstanding` issued; minting `amount` more would exceed
    /// its cap `cap`.
    error SettlementIssuanceCapExceeded(uint256 financierId, uint256 outstanding, uint256 amount, uint256 cap);
    /// @dev Only the MemberRegistry may report an account leaving a member; `caller` is not it.
    error SettlementUnauthorizedCaller(address caller);

    // ---- events --------------------------------------------------------------------------
    /// @dev Financier `financierId` minted `amount` to `to` against off-chain deposit `bankRef`.
    event SettlementMinted(uint256 indexed financierId, address indexed to, uint256 amount, bytes32 bankRef);
    /// @dev Financier `financierId` burned `amount` of `from`'s own tokens for withdrawal `bankRef`.
    event SettlementBurned(uint256 indexed financierId, address indexed from, uint256 amount, bytes32 bankRef);
    event SystemContractSet(address indexed account, bool allowed);
    /// @dev Governance set financier `financierId`'s own issuance cap to `cap`.
    event SettlementIssuanceCapSet(uint256 indexed financierId, uint256 cap);
    /// @dev Account `from` left member `memberId`; its `amount` moved to the member's `to`.
    event SettlementBalanceMigrated(uint256 indexed memberId, address indexed from, address indexed to, uint256 amount);

    // ---- writes --------------------------------------------------------------------------
    function mint(address to, uint256 amount, bytes32 bankRef) external;

    function burn(uint256 amount, bytes32 bankRef) external;

    // ---- views ---------------------------------------------------------------------------
    /// @notice True when governance registered `account` as a system contract.
    function isSystemContract(address account) external view returns (bool);

    /// @notice Everything ever minted.
    function totalMinted() external view returns (uint256);

    /// @notice Everything ever burned. `totalSupply() == totalMinted() - totalBurned()`.
    function totalBurned() external view returns (uint256);

    /// @notice Financier `financierId`'s outstanding issuance (minted minus burned, not below
    /// zero) and the cap that applies to it now.
    function issuanceOf(uint256 financierId) external view returns (uint256 outstanding, uint256 cap);

    /// @notice True once governance set financier `financierId`'s own cap (else it follows the
    /// governance parameter `ISSUANCE_CAP`).
    function hasOwnIssuanceCap(uint256 financierId) external view returns (bool);
}
