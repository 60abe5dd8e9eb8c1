"""Page tokens of the gRPC follow pages and the REST paging shape."""

from __future__ import annotations

import uuid

import pytest

from shared.errors import InvalidInput
from shared.ids import uuid7
from shared.paging import Page
from users.service import decode_page_token, encode_page_token


def test_a_page_token_reads_back_as_the_id_it_was_made_from() -> None:
    for value in (uuid7(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)):
        token = encode_page_token(value)
        assert "=" not in token and decode_page_token(token) == value


def test_no_token_is_the_first_page() -> None:
    assert decode_page_token("") is None


@pytest.mark.parametrize("token", ["not base64!", "AAAA", "x" * 40])
def test_a_token_that_is_no_id_is_invalid_input(token: str) -> None:
    with pytest.raises(InvalidInput):
        decode_page_token(token)


class Numbers(Page):
    numbers: list[int]


def test_a_page_has_more_while_items_remain_after_it() -> None:
    last = uuid7()
    middle = Numbers.of(2, 5, 2, 2, last, numbers=[3, 4])
    final = Numbers.of(1, 5, 2, 4, uuid7(), numbers=[5])
    assert (middle.has_more, middle.next_cursor) == (True, str(last))
    assert (final.has_more, final.next_cursor) == (False, None)


def test_a_list_paged_by_offset_only_has_no_cursor() -> None:
    assert Numbers.of(2, 5, 2, 0, numbers=[1, 2]).model_dump() == {
        "total": 5,
        "limit": 2,
        "offset": 0,
        "has_more": True,
        "next_cursor": None,
        "numbers": [1, 2],
    }
