"""The chain layer: everything that talks to a ledger.

Loads the compiled contract artifacts, offers one `Ledger` interface over
interchangeable backends (tester, embedded and rpc by name; ``ScfNodeLedger`` for
the node's own ledger process), decodes revert data into the contracts' custom
errors, and deploys the consortium's contracts.

May import: the standard library, web3.py / eth-* packages and the artifacts
under ``contracts/build``. Never imports ``api`` or ``nodes``.
"""

import importlib.util
import os

# eth-hash picks the keccak backend of the whole process (web3, py-evm, the tries) at its
# first hash: ETH_HASH_BACKEND if set, else pycryptodome. safe-pysha3 (a dependency, a C
# extension) hashes several times faster, and a block execution hashes thousands of times.
# So ask for it here, before anything in this package hashes, unless the environment chose.
if importlib.util.find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
