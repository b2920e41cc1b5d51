"""The SQL read model: chain events projected into tables the API lists from.

``models`` holds the tables (SQLAlchemy 2), ``projections`` one handler per event,
``indexer`` follows the ledger in order and commits each batch together with its
cursor, ``reconcile`` compares the tables with chain state.
"""
