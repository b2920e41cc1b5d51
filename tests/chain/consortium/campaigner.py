"""A campaigner in a process of its own, for tests that kill -9 the minter.

``python -m tests.chain.consortium.campaigner <endpoint> <chain id> <value> <ttl>``
campaigns, prints ``elected`` once it holds the election, and then keeps its lease alive
until it is killed.
"""

from __future__ import annotations

import sys
import threading

from chain.consortium.election import Election
from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys


def main() -> None:
    endpoint, chain_id, value, ttl = sys.argv[1:5]
    client = EtcdClient([endpoint])
    election = Election(client, ChainKeys(int(chain_id)), value, ttl=int(ttl))
    leadership = election.campaign()
    print("elected", flush=True)
    leadership.lost.wait()  # until killed, or until the lease is lost
    print("lost", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
