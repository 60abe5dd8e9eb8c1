"""The hashtag and mention grammar (shared.entities)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.entities import MAX_HASHTAG_LENGTH, hashtags, mention_candidates
from shared.text import fold


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("#café au lait", ["café"]),
        ("cafe\u0301 #cafe\u0301", ["café"]),  # decomposed é is the same tag
        ("今日は #日本語 の日", ["日本語"]),
        ("#go_2026 launch", ["go_2026"]),
        ("#Python and #PYTHON and #python", ["python"]),
        (
            "\uff26\uff35\uff2c\uff2c \uff03\uff57\uff49\uff44\uff54\uff48",
            ["width"],
        ),  # compatibility forms fold (NFKC)
        ("#Straße", ["strasse"]),  # case folding, not lower()
        ("#हिन्दी", ["हिन्दी"]),  # combining marks stay in the tag
        ("end of sentence #tag.", ["tag"]),
        ("(#paren) #comma, #excl!", ["paren", "comma", "excl"]),
        ("a#b", []),
        ("https://x.y/#frag", []),
        ("see www.example.com/#frag and #real", ["real"]),
        ("html &#39; entity", []),
        ("#2026 is a year", []),
        ("##double", []),
        ("# lonely hash", []),
        ("#a#b", ["a"]),
        ("#" + "x" * MAX_HASHTAG_LENGTH, ["x" * MAX_HASHTAG_LENGTH]),
        ("#" + "x" * (MAX_HASHTAG_LENGTH + 1), []),
    ],
)
def test_hashtags(content: str, expected: list[str]) -> None:
    assert hashtags(content) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("hi @Alice and @bob_2!", ["alice", "bob_2"]),
        ("@alice @ALICE", ["alice"]),
        ("mail bob@example.com now", []),
        ("@al is too short", []),
        ("@" + "a" * 33, []),
        ("@bobé is not bob", []),
        ("http://x.y/@carol", []),
        ("(@dave) @erin's", ["dave", "erin"]),
        ("no at sign", []),
    ],
)
def test_mention_candidates(content: str, expected: list[str]) -> None:
    assert mention_candidates(content) == expected


@given(st.text(max_size=300))
def test_parsing_never_raises_and_every_hashtag_is_a_substring(content: str) -> None:
    folded = fold(content)
    for tag in hashtags(content):
        assert tag and f"#{tag}" in folded and len(tag) <= MAX_HASHTAG_LENGTH
    for name in mention_candidates(content):
        assert f"@{name}" in content.lower()


@given(st.lists(st.sampled_from(["#", "@", "a", "é", "_", "1", " ", "/", "&", ".", "日"]), max_size=60))
def test_dense_marks_never_break_the_parser(chars: list[str]) -> None:
    content = "".join(chars)
    assert all(f"#{tag}" in fold(content) for tag in hashtags(content))
    assert all(f"@{name}" in content.lower() for name in mention_candidates(content))
