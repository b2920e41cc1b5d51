// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title LegacyImport
 * @notice The import window of a business contract adopting a consortium deployed before its
 * proxies (docs/decisions/0013). While governance has this code behind the contract's proxy
 * and the window is open, anyone may import a record by its id; the importer reads it from
 * the legacy contract's public views, so nothing is taken from the caller. Each record is
 * imported once (a repeated import changes nothing and says so), and the window keeps a count
 * and a total of what it imported, which the adopting proposal checks (`_close`) before the
 * proxy moves to the released code.
 *
 * @dev Its state sits in an ERC-7201 namespace, never in the business contract's declared
 * slots, so a later version's appended variables cannot meet it. It stays after adoption: the
 * legacy address and the closing figures remain readable at that slot.
 */
abstract contract LegacyImport {
    /// @custom:storage-location erc7201:scf.storage.LegacyImport
    struct ImportWindow {
        address legacy;
        bool open;
        bool closed;
        uint256 count;
        uint256 total;
        mapping(bytes32 => bool) imported;
        mapping(address => address) successorOf; // legacy system contract => its successor
    }

    // keccak256(abi.encode(uint256(keccak256("scf.storage.LegacyImport")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _WINDOW = 0xad13c1b43a824483fcf21b69f8c2fe02a3c23986acbe28fb3c2bc581c3155700;

    /// @dev No window is open here: before governance opened it, after adoption, or on the
    /// importer's implementation itself.
    error ImportWindowClosed();
    /// @dev A window was opened here before: a contract adopts one legacy contract, once.
    error ImportWindowUsed(address legacy);
    /// @dev The legacy contract has no such record (`record`: its id, key or account).
    error ImportNotInLegacy(bytes32 record);
    /// @dev The adopting proposal's figures are not what was imported, or not the legacy's.
    error ImportTotalsMismatch(uint256 importedCount, uint256 expectedCount, uint256 importedTotal, uint256 expectedTotal);
    /// @dev A figure of the adopting proposal is not the legacy contract's own.
    error ImportLegacyMismatch(uint256 legacyFigure, uint256 expected);

    event LegacyImportOpened(address indexed legacy);
    event LegacyRecordImported(bytes32 indexed record, uint256 value);
    event LegacyImportClosed(address indexed legacy, uint256 count, uint256 total);

    /// @notice The window: the legacy contract, whether it is open, and the count and total
    /// of the records imported so far.
    function importWindow() external view returns (address legacy, bool open, uint256 count, uint256 total) {
        ImportWindow storage w = _window();
        return (w.legacy, w.open, w.count, w.total);
    }

    /// @notice Whether the record `record` (id, key or account as bytes32) was imported.
    function isImported(bytes32 record) external view returns (bool) {
        return _window().imported[record];
    }

    function _openWindow(address legacy) internal {
        ImportWindow storage w = _window();
        if (w.legacy != address(0)) revert ImportWindowUsed(w.legacy);
        if (legacy.code.length == 0) revert ImportNotInLegacy(bytes32(uint256(uint160(legacy))));
        w.legacy = legacy;
        w.open = true;
        emit LegacyImportOpened(legacy);
    }

    /// @dev The legacy contract, if the window is open.
    function _legacy() internal view returns (address) {
        ImportWindow storage w = _window();
        if (!w.open) revert ImportWindowClosed();
        return w.legacy;
    }

    function _imported(bytes32 record) internal view returns (bool) {
        return _window().imported[record];
    }

    /// @dev Counts `record` in (callers checked `_imported` first and read it from legacy).
    function _record(bytes32 record, uint256 value) internal {
        ImportWindow storage w = _window();
        w.imported[record] = true;
        w.count += 1;
        w.total += value;
        emit LegacyRecordImported(record, value);
    }

    /// @dev Closes the window if what was imported is what the adopting proposal expects.
    function _close(uint256 expectedCount, uint256 expectedTotal) internal {
        ImportWindow storage w = _window();
        if (!w.open) revert ImportWindowClosed();
        if (w.count != expectedCount || w.total != expectedTotal) {
            revert ImportTotalsMismatch(w.count, expectedCount, w.total, expectedTotal);
        }
        w.open = false;
        w.closed = true;
        emit LegacyImportClosed(w.legacy, w.count, w.total);
    }

    function _requireLegacy(uint256 legacyFigure, uint256 expected) internal pure {
        if (legacyFigure != expected) revert ImportLegacyMismatch(legacyFigure, expected);
    }

    function _setSuccessor(address legacySystem, address successor) internal {
        _window().successorOf[legacySystem] = successor;
    }

    function _successorOf(address account) internal view returns (address) {
        address successor = _window().successorOf[account];
        return successor == address(0) ? account : successor;
    }

    function _window() private pure returns (ImportWindow storage w) {
        bytes32 slot = _WINDOW;
        assembly {
            w.slot := slot
        }
    }
}
