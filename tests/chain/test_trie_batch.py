"""``apply_updates`` gives the root py-trie gives for the same writes, one by one, and every
node of the new trie is in the database."""

from __future__ import annotations

from typing import Any

from eth_typing import Hash32
from hypothesis import given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from chain.embedded.trie_batch import apply_updates

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


def test_deleting_every_key_leaves_the_blank_root() -> None:
    db, root = _trie({b"\x01": b"a", b"\x01\x02": b"b", bytes(32): b"c" * 40})
    blank = HexaryTrie({}).root_hash
    assert apply_updates(db, root, {b"\x01": b"", b"\x01\x02": b"", bytes(32): b""}) == blank
