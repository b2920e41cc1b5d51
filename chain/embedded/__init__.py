"""The embedded ledger: a persistent single-node py-evm chain.

``store`` keeps chain data in LMDB, one atomic durable commit per block;
``node`` owns the EVM in a single block-producer thread that seals pending
transactions in batches; ``rpc`` answers Ethereum JSON-RPC for it, both over
HTTP and in process (``provider``).
"""
