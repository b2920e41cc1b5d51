"""``apply_updates`` gives the root py-trie gives for the same writes, one by one, and every
node of the new trie is in the database."""

from __future__ import annotations

from typing import Any

import rlp  # type: ignore[import-untyped]
from eth_typing import Hash32
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from lru import LRU
from trie.hexary import HexaryTrie

from chain.embedded.trie_batch import apply_updates, lookup

# Short keys share prefixes and end where others go on (branch values); 32-byte keys are
# what storage tries hold (hashed slots).
keys = st.one_of(st.binary(min_size=1, max_size=3), st.binary(min_size=32, max_size=32))
values = st.binary(min_size=1, max_size=40)  # under and over the 32 bytes of an inline node


def _trie(contents: dict[bytes, bytes]) -> tuple[dict[bytes, bytes], Hash32]:
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db)
    for key, value in contents.items():
        trie[key] = value
    return db, Hash32(trie.root_hash)


@settings(max_examples=300, deadline=None)
@given(
    before=st.dictionaries(keys, values, max_size=40),
    sets=st.dictionaries(keys, values, max_size=40),
    deletions=st.data(),
)
def test_the_root_and_contents_are_those_of_writes_one_by_one(
    before: dict[bytes, bytes], sets: dict[bytes, bytes], deletions: Any
) -> None:
    deleted = deletions.draw(st.lists(st.sampled_from([*before, b"absent"]), max_size=20))
    updates = {**sets, **{key: b"" for key in deleted}}
    expected = {**before, **updates}
    expected = {key: value for key, value in expected.items() if value}

    db, root = _trie(before)
    one_by_one = HexaryTrie(dict(db), root)
    for key, value in updates.items():
        one_by_one[key] = value  # b"" deletes

    new_root = apply_updates(db, root, updates)
    assert new_root == one_by_one.root_hash
    batched = HexaryTrie(db, new_root)
    assert {key: batched[key] for key in expected} == expected
    assert all(batched[key] == b"" for key in updates if key not in expected)
    # and ``lookup`` reads what py-trie reads, absent keys included
    assert {key: lookup(db, new_root, key) for key in expected} == expected
    assert all(
        lookup(db, new_root, key) == b""
        for key in [*updates, *before, b"\x00"]
        if key not in expected
    )


def test_deleting_every_key_leaves_the_blank_root() -> None:
    db, root = _trie({b"\x01": b"a", b"\x01\x02": b"b", bytes(32): b"c" * 40})
    blank = HexaryTrie({}).root_hash
    assert apply_updates(db, root, {b"\x01": b"", b"\x01\x02": b"", bytes(32): b""}) == blank


@settings(max_examples=100, deadline=None)
@given(rounds=st.lists(st.dictionaries(keys, st.one_of(values, st.just(b"")), max_size=20)))
def test_nodes_kept_decoded_from_block_to_block_are_never_changed(
    rounds: list[dict[bytes, bytes]],
) -> None:
    # Each round is a block: it starts from the root the one before left, with the nodes
    # that one decoded and wrote kept. A small bound makes them come and go.
    db: dict[bytes, bytes] = {}
    root = Hash32(HexaryTrie({}).root_hash)
    one_by_one = HexaryTrie(dict(db), root)
    decoded: LRU[bytes, Any] = LRU(16)
    for updates in rounds:
        for key, value in updates.items():
            one_by_one[key] = value
        root = apply_updates(db, root, updates, decoded)
        assert root == one_by_one.root_hash
        batched = HexaryTrie(db, root)  # every node the root reaches is stored
        assert all(batched[key] == one_by_one[key] for key in updates)
        assert all(lookup(db, root, key, decoded) == one_by_one[key] for key in updates)
        # a kept node is still the content its hash names
        assert all(keccak(rlp.encode(node)) == node_hash for node_hash, node in decoded.items())
