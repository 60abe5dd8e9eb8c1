"""GET /search and gRPC SearchTweets: what a client sees, the same on every backend."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from devtools.testing import assert_problem, free_port
from fleet_proto import search_service_pb2 as pb
from fleet_proto import search_service_pb2_grpc
from search.main import create_app
from shared.grpc.auth import ServiceTokenClientInterceptor
from shared.settings import Settings

from .conftest import SearchStack, document, with_new_ports

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_indexed_tweet_is_found_with_every_field(index: SearchStack) -> None:
    tweet = document("Sourdough bread baked at dawn", created_at=T0)
    await index.index(tweet)

    page = await index.search(q="sourdough")

    assert page["total"] == 1 and (page["limit"], page["offset"]) == (20, 0)
    [hit] = page["results"]
    assert set(hit) == {"id", "user_id", "content", "created_at", "score"}
    assert hit["id"] == str(tweet.id) and hit["user_id"] == str(tweet.user_id)
    assert hit["content"] == "Sourdough bread baked at dawn"
    assert datetime.fromisoformat(hit["created_at"]) == T0
    assert hit["score"] > 0


async def test_updated_tweet_is_found_by_its_new_text_only(index: SearchStack) -> None:
    original = document("walking the dog in the park")
    edited = document(
        "walking the cat", tweet_id=original.id, user_id=original.user_id, version_offset=timedelta(minutes=5)
    )
    await index.index(original)
    await index.index(edited)

    assert await index.found_ids("cat") == [str(original.id)]
    assert await index.found_ids("park") == []
    assert (await index.search(q="walking"))["results"][0]["content"] == "walking the cat"


async def test_deleted_tweet_is_not_found(index: SearchStack) -> None:
    tweet = document("ephemeral thoughts about clouds")
    await index.index(tweet)
    assert await index.found_ids("clouds") == [str(tweet.id)]

    await index.index(
        document(
            "", tweet_id=tweet.id, user_id=tweet.user_id, version_offset=timedelta(minutes=1), deleted=True
        )
    )

    page = await index.search(q="clouds")
    assert (page["results"], page["total"]) == ([], 0)


async def test_other_word_forms_match_through_stemming(index: SearchStack) -> None:
    tweet = document("The dogs were running happily")
    await index.index(tweet)

    assert await index.found_ids("dog runs") == [str(tweet.id)]


async def test_every_word_of_the_query_must_match(index: SearchStack) -> None:
    both = document("green tea with honey")
    only_one = document("green apples")
    await index.index(both, only_one)

    assert await index.found_ids("green honey") == [str(both.id)]
    assert sorted(await index.found_ids("green")) == sorted([str(both.id), str(only_one.id)])


async def test_websearch_syntax_phrases_exclusions_and_or(index: SearchStack) -> None:
    phrase = document("fresh green tea every morning")
    scattered = document("tea that is green")
    tagged = document("green tea latte")
    await index.index(phrase, scattered, tagged)

    assert sorted(await index.found_ids('"green tea"')) == sorted([str(phrase.id), str(tagged.id)])
    assert await index.found_ids('"green tea" -latte') == [str(phrase.id)]
    assert sorted(await index.found_ids("latte or morning")) == sorted([str(phrase.id), str(tagged.id)])


async def test_better_match_ranks_first(index: SearchStack) -> None:
    weak = document("coffee this morning, and later at the market I finally bought some beans", created_at=T0)
    strong = document("coffee beans, coffee beans, fresh coffee beans", created_at=T0 - timedelta(days=1))
    await index.index(weak, strong)

    page = await index.search(q="coffee beans")

    assert [hit["id"] for hit in page["results"]] == [str(strong.id), str(weak.id)]
    assert page["results"][0]["score"] > page["results"][1]["score"]


async def test_equal_matches_are_ordered_newest_first(index: SearchStack) -> None:
    tweets = [document("identical words here", created_at=T0 + timedelta(hours=hour)) for hour in (2, 0, 1)]
    await index.index(*tweets)

    page = await index.search(q="identical words")

    assert [hit["id"] for hit in page["results"]] == [str(tweets[0].id), str(tweets[2].id), str(tweets[1].id)]


async def test_limit_and_offset_page_through_every_match(index: SearchStack) -> None:
    tweets = [document(f"paging example number {n}", created_at=T0 + timedelta(minutes=n)) for n in range(5)]
    await index.index(*tweets)
    newest_first = [str(tweet.id) for tweet in reversed(tweets)]

    first = await index.search(q="paging", limit=2, offset=0)
    last = await index.search(q="paging", limit=2, offset=4)
    beyond = await index.search(q="paging", limit=2, offset=10)

    assert [hit["id"] for hit in first["results"]] == newest_first[:2]
    assert [hit["id"] for hit in last["results"]] == newest_first[4:]
    assert (first["total"], last["total"], beyond["total"]) == (5, 5, 5)
    assert beyond["results"] == [] and (beyond["limit"], beyond["offset"]) == (2, 10)


async def test_user_id_filter_keeps_that_authors_tweets(index: SearchStack) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    mine = document("hiking trip photos", user_id=alice)
    theirs = document("hiking boots for sale", user_id=bob)
    await index.index(mine, theirs)

    page = await index.search(q="hiking", user_id=str(alice))

    assert [hit["id"] for hit in page["results"]] == [str(mine.id)] and page["total"] == 1


async def test_since_is_inclusive_and_until_exclusive(index: SearchStack) -> None:
    early, middle, late = (
        document("weather report", created_at=T0 + timedelta(days=day)) for day in (0, 1, 2)
    )
    await index.index(early, middle, late)
    day1, day2 = (T0 + timedelta(days=1)).isoformat(), (T0 + timedelta(days=2)).isoformat()

    assert await index.found_ids("weather", since=day1) == [str(late.id), str(middle.id)]
    assert await index.found_ids("weather", until=day1) == [str(early.id)]
    assert await index.found_ids("weather", since=day1, until=day2) == [str(middle.id)]
    # Another time zone names the same instant.
    assert await index.found_ids("weather", since="2026-01-02T01:00:00+01:00") == [
        str(late.id),
        str(middle.id),
    ]


@pytest.mark.parametrize("q", ["", "   ", "the", "!!!", "the and of ... ?", "is it"])
async def test_query_without_a_searchable_word_is_422(index: SearchStack, q: str) -> None:
    assert_problem(await index.client.get("/search", params={"q": q}), 422)


@pytest.mark.parametrize(
    "params",
    [
        {"q": "weather\x00report"},
        {"q": "weather", "since": "0001-01-01T00:00:00+05:00"},
        {"q": "weather", "until": "9999-12-31T23:59:59-14:00"},
    ],
)
async def test_extreme_but_valid_input_is_answered(index: SearchStack, params: dict[str, str]) -> None:
    tweet = document("weather report")
    await index.index(tweet)

    assert await index.found_ids(**params) == [str(tweet.id)]


async def test_missing_or_too_long_query_is_422(index: SearchStack) -> None:
    assert_problem(await index.client.get("/search"), 422)
    assert_problem(await index.client.get("/search", params={"q": "x" * 257}), 422)
    assert (await index.client.get("/search", params={"q": "x" * 256})).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"offset": -1},
        {"offset": 1_000_000},
        {"user_id": "not-a-uuid"},
        {"since": "yesterday"},
        {"until": "2026-13-01"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ],
)
async def test_bad_paging_or_filters_are_422(index: SearchStack, params: dict[str, object]) -> None:
    assert_problem(await index.client.get("/search", params={"q": "anything", **params}), 422)


async def test_grpc_search_answers_like_rest(index: SearchStack) -> None:
    author = uuid.uuid4()
    tweet = document("gRPC speaks protobuf fluently", user_id=author, created_at=T0)
    await index.index(tweet, document("protobuf elsewhere"))
    request = pb.SearchTweetsRequest(query="protobuf", limit=5, user_id=str(author))
    request.since.FromDatetime(T0)

    async with _authenticated_channel(index.grpc_target, index.settings) as channel:
        reply = await search_service_pb2_grpc.SearchStub(channel).SearchTweets(request, timeout=5)

    assert (reply.total, reply.limit, reply.offset) == (1, 5, 0)
    [hit] = reply.results
    assert (hit.id, hit.user_id, hit.content) == (str(tweet.id), str(author), tweet.content)
    assert hit.created_at.ToDatetime(tzinfo=UTC) == T0 and hit.score > 0


@pytest.mark.parametrize(
    "request_fields",
    [
        {"query": "the"},
        {"query": "   "},
        {"query": "ok", "limit": 101},
        {"query": "ok", "offset": -1},
        {"query": "ok", "user_id": "bad"},
        {"query": "ok", "since": Timestamp(seconds=-(10**13))},
    ],
)
async def test_grpc_rejects_bad_requests_with_invalid_argument(
    index: SearchStack, request_fields: dict[str, object]
) -> None:
    async with _authenticated_channel(index.grpc_target, index.settings) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await search_service_pb2_grpc.SearchStub(channel).SearchTweets(
                pb.SearchTweetsRequest(**request_fields),
                timeout=5,  # type: ignore[arg-type]
            )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_ready_checks_the_backend(index: SearchStack) -> None:
    response = await index.client.get("/ready")

    assert response.status_code == 200
    assert response.json()["dependencies"] == {index.kind: "ok"}


def _authenticated_channel(target: str, settings: Settings) -> grpc.aio.Channel:
    token = ServiceTokenClientInterceptor(settings.internal.service_token)
    return grpc.aio.insecure_channel(target, interceptors=[token])


def _unreachable_backend(stack: SearchStack) -> Settings:
    """The stack's settings with its backend on a port where nothing listens."""
    port = free_port()
    if stack.kind == "elasticsearch":
        return with_new_ports(
            stack.settings,
            elasticsearch=stack.settings.elasticsearch.model_copy(update={"url": f"http://127.0.0.1:{port}"}),
        )
    return with_new_ports(stack.settings, database=stack.settings.database.model_copy(update={"port": port}))


async def test_backend_down_is_503_problem_and_grpc_unavailable(stack: SearchStack) -> None:
    settings = _unreachable_backend(stack)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        body = assert_problem(await client.get("/search", params={"q": "anything"}), 503)
        assert stack.kind in body["detail"].lower() or "unavailable" in body["detail"].lower()
        ready = assert_problem(await client.get("/ready"), 503)
        assert ready["dependencies"][stack.kind] != "ok"
        async with _authenticated_channel(
            f"127.0.0.1:{settings.searchservice.grpc_port}", settings
        ) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await search_service_pb2_grpc.SearchStub(channel).SearchTweets(
                    pb.SearchTweetsRequest(query="anything"), timeout=10
                )
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
