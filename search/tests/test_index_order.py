"""Order safety of the index: duplicated, late and out-of-order writes never win over newer ones."""

from __future__ import annotations

from datetime import timedelta

from .conftest import SearchStack, document

MINUTE = timedelta(minutes=1)


async def test_duplicate_write_changes_nothing(index: SearchStack) -> None:
    tweet = document("duplicate delivery happens")
    await index.index(tweet)
    await index.index(tweet)
    await index.index(tweet, tweet)

    page = await index.search(q="duplicate")

    assert [hit["id"] for hit in page["results"]] == [str(tweet.id)] and page["total"] == 1


async def test_older_update_arriving_late_is_ignored(index: SearchStack) -> None:
    v1 = document("first draft", version_offset=1 * MINUTE)
    v2 = document("final version", tweet_id=v1.id, user_id=v1.user_id, version_offset=2 * MINUTE)
    await index.index(v2)
    await index.index(v1)

    assert await index.found_ids("final") == [str(v1.id)]
    assert await index.found_ids("draft") == []


async def test_late_create_after_delete_stays_deleted(index: SearchStack) -> None:
    created = document("should never come back")
    tombstone = document(
        "", tweet_id=created.id, user_id=created.user_id, version_offset=MINUTE, deleted=True
    )
    await index.index(tombstone)
    await index.index(created)

    assert await index.found_ids("never come back") == []


async def test_late_update_after_delete_stays_deleted(index: SearchStack) -> None:
    created = document("original words")
    edited = document("edited words", tweet_id=created.id, user_id=created.user_id, version_offset=MINUTE)
    tombstone = document(
        "", tweet_id=created.id, user_id=created.user_id, version_offset=2 * MINUTE, deleted=True
    )
    await index.index(created)
    await index.index(tombstone)
    await index.index(edited)

    assert await index.found_ids("words") == []


async def test_one_batch_with_several_versions_keeps_the_newest(index: SearchStack) -> None:
    v1 = document("alpha text")
    v2 = document("beta text", tweet_id=v1.id, user_id=v1.user_id, version_offset=MINUTE)
    v3 = document("gamma text", tweet_id=v1.id, user_id=v1.user_id, version_offset=2 * MINUTE)
    await index.index(v1, v3, v2)

    page = await index.search(q="text")

    assert [hit["content"] for hit in page["results"]] == ["gamma text"]


async def test_reset_empties_the_index(index: SearchStack) -> None:
    await index.index(document("soon gone"))

    await index.backend.reset()
    await index.settle()

    assert await index.found_ids("gone") == []
