"""Tweet text: common English words plus a long tail of made-up ones (a Zipf-like vocabulary)."""

from __future__ import annotations

import random
import string

_COMMON_TEXT = (
    "time people year way day thing man world life hand part child eye woman place work week case "
    "point government company number group problem fact coffee music game code engine train city "
    "river mountain ocean coast market school garden kitchen window street night morning summer "
    "winter spring autumn weather rain snow storm sun moon star light dark fast slow happy quiet "
    "loud bright open close build write read think learn teach travel cook bake paint sing dance "
    "launch release ship test deploy debug review merge design plan draft publish share follow"
)
COMMON = _COMMON_TEXT.split()


def _made_up_words(count: int, seed: int = 7) -> list[str]:
    generator = random.Random(seed)
    return [
        "".join(generator.choice(string.ascii_lowercase) for _ in range(generator.randint(5, 9)))
        for _ in range(count)
    ]


VOCABULARY = COMMON + _made_up_words(2000)
# Earlier words are more frequent: weight 1/rank.
_CUMULATIVE: list[float] = []
_total = 0.0
for _rank in range(len(VOCABULARY)):
    _total += 1.0 / (_rank + 1)
    _CUMULATIVE.append(_total)


def sentence(generator: random.Random, low: int, high: int) -> str:
    """Between low and high words, at most 280 characters."""
    words = generator.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=generator.randint(low, high))
    return " ".join(words)[:280]


def probe_word(generator: random.Random) -> str:
    """A 12-letter word: longer than every generated word, so only its probe tweet contains it."""
    return "zq" + "".join(generator.choice(string.ascii_lowercase) for _ in range(10))
