"""`make demo`: seed a small social graph against the running fleet (`make run`), post, and show
a feed and a search result, so a new user sees the system work in a minute."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time

import httpx

from shared.cli import load_settings_or_exit

PASSWORD = "demo-password-1"
POSTS = {
    "ada": [
        "Analytical engines weave algebraic patterns like looms weave flowers",
        "Notes on the engine, part 2",
    ],
    "grace": [
        "Found an actual moth in the relay today",
        "A ship in port is safe, but that is not what ships are for",
    ],
    "linus": ["Talk is cheap. Show me the code.", "Release candidate tagged; please test the engine changes"],
}


async def main() -> int:
    settings = load_settings_or_exit()
    base = {
        name: f"http://{section.host}:{section.rest_port}"
        for name, section in (
            ("users", settings.userservice),
            ("tweets", settings.tweetservice),
            ("feed", settings.feedservice),
            ("search", settings.searchservice),
        )
    }
    suffix = secrets.token_hex(2)
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            for url in base.values():
                (await http.get(f"{url}/ready")).raise_for_status()
        except httpx.HTTPError as exc:
            print(
                f"the fleet is not ready ({exc}); start it with `make run` in another terminal",
                file=sys.stderr,
            )
            return 1
        tokens, ids = {}, {}
        for name in [*POSTS, "reader"]:
            username = f"{name}_{suffix}"
            body = {"email": f"{username}@example.com", "username": username, "password": PASSWORD}
            ids[name] = (await http.post(f"{base['users']}/register", json=body)).json()["id"]
            login = await http.post(
                f"{base['users']}/login", json={"username": username, "password": PASSWORD}
            )
            tokens[name] = {"Authorization": f"Bearer {login.json()['access_token']}"}
            print(f"registered {username}")
        for name in POSTS:
            await http.post(f"{base['users']}/users/{ids[name]}/follow", headers=tokens["reader"])
        print(f"reader_{suffix} follows {', '.join(f'{n}_{suffix}' for n in POSTS)}")
        posted = 0
        for name, contents in POSTS.items():
            for content in contents:
                response = await http.post(
                    f"{base['tweets']}/tweet", json={"content": content}, headers=tokens[name]
                )
                response.raise_for_status()
                posted += 1
        print(f"posted {posted} tweets")
        started = time.monotonic()
        feed: dict = {}
        while time.monotonic() - started < 10:
            feed = (
                await http.get(f"{base['feed']}/feed", params={"limit": 10}, headers=tokens["reader"])
            ).json()
            if len(feed.get("tweets", [])) >= posted:
                break
            await asyncio.sleep(0.1)
        print(
            f"\nreader_{suffix}'s feed ({feed.get('total', 0)} tweets, {time.monotonic() - started:.2f}s after posting):"
        )
        authors = {value: key for key, value in ids.items()}
        for tweet in feed.get("tweets", []):
            print(f"  @{authors.get(tweet['user_id'], '?')}_{suffix}: {tweet['content']}")
        results = (await http.get(f"{base['search']}/search", params={"q": "engine"})).json()
        print(f"\nsearch 'engine': {results.get('total', 0)} results")
        for hit in results.get("results", [])[:5]:
            print(f"  {hit['score']:.3f}  {hit['content']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
