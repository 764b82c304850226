"""model.memo.IdentityMemo: one answer per object (by identity) and extra key part."""

from __future__ import annotations

from kubeharden.model.memo import IdentityMemo


def test_answers_are_kept_per_object_identity_and_extra_part():
    memo: IdentityMemo[str] = IdentityMemo()
    built: list[str] = []

    def build(text: str) -> str:
        built.append(text)
        return text.upper()

    a, b = ["rule"], ["rule"]  # equal, not the same object
    assert memo.get(a, True, lambda: build("a")) == "A"
    assert memo.get(a, True, lambda: build("again")) == "A"  # kept: not built again
    assert memo.get(b, True, lambda: build("b")) == "B"  # an equal object is another object
    assert memo.get(a, False, lambda: build("a-other")) == "A-OTHER"  # another extra part, another answer
    assert built == ["a", "b", "a-other"]


def test_an_entry_holds_its_object_so_its_id_is_not_reused():
    memo: IdentityMemo[int] = IdentityMemo()
    memo.get(["short-lived"], None, lambda: 1)
    # the list above is kept alive by the memo: a new object cannot take its id and get its answer
    assert memo.get(["another"], None, lambda: 2) == 2
