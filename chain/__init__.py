"""The chain layer: everything that talks to a ledger.

Loads the compiled contract artifacts, offers one `Ledger` interface over
interchangeable backends (tester today; embedded and rpc build on the same
interface), decodes revert data into the contracts' custom errors, and deploys
the consortium's contracts.

May import: the standard library, web3.py / eth-* packages and the artifacts
under ``contracts/build``. Never imports ``api`` or ``nodes``.
"""
