"""Hashtags and mentions in tweet text: the one grammar that tweets (writing) and search (querying) share.

Hashtags are found in the folded text (`shared.text.fold`: NFKC and case folding), so every tag is
literally a substring of `fold(content)` and `#Café`, `#CAFÉ` and `#ｃａｆé` are one tag. Mentions are
only candidates here: a name becomes a mention once the users service knows the account.
"""

from __future__ import annotations

import re
import unicodedata

from shared.text import fold

MAX_HASHTAG_LENGTH = 100
# users' Username: ASCII letters, digits and "_", 3 to 32 of them (case-insensitive).
MENTION_NAME = re.compile(r"[A-Za-z0-9_]{3,32}")
MAX_MENTIONS = 50  # 280 characters hold at most 70 "@abc"; the resolving call stays small
# URLs are blanked before parsing: `https://x.y/#frag` holds no hashtag, `http://a.b/@c` no mention.
_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S*", re.IGNORECASE)


def is_tag_char(char: str) -> bool:
    """Letters and combining marks of any script, decimal digits and "_" (marks keep `#हिन्दी` whole)."""
    category = unicodedata.category(char)
    return char == "_" or category[0] in "LM" or category == "Nd"


def hashtags(content: str) -> list[str]:
    """The distinct hashtags of `content`, folded, without `#`, in order of first appearance.

    A `#` starts a hashtag only at the start of the text or after a character that is neither a
    tag character nor `&` (`a#b`, `&#39;` are not hashtags); a tag made only of digits (`#1`) or
    longer than MAX_HASHTAG_LENGTH is not one either.
    """
    text = _URL.sub(" ", fold(content))
    found: dict[str, None] = {}
    for tag in _marked_words(text, "#"):
        if tag and len(tag) <= MAX_HASHTAG_LENGTH and not tag.isdecimal():
            found.setdefault(tag)
    return list(found)


def mention_candidates(content: str) -> list[str]:
    """The distinct `@names` of `content` that could be usernames, lower-cased, in order.

    `bob@example.com` is an e-mail address, not a mention: like `#`, `@` must not follow a word.
    """
    if "@" not in content:
        return []
    text = _URL.sub(" ", content)
    found: dict[str, None] = {}
    for word in _marked_words(text, "@"):
        match = MENTION_NAME.match(word)
        # `@bob.` is bob; `@bobé` or a 40-character name is nobody.
        if match and match.end() == len(word):
            found.setdefault(word.lower())
            if len(found) == MAX_MENTIONS:
                break
    return list(found)


def _marked_words(text: str, mark: str) -> list[str]:
    """The word after each `mark` that starts one: the run of tag characters following it."""
    words = []
    index = text.find(mark)
    while index != -1:
        before = text[index - 1] if index > 0 else " "
        end = index + 1
        while end < len(text) and is_tag_char(text[end]):
            end += 1
        if not is_tag_char(before) and before not in "&#@":
            words.append(text[index + 1 : end])
        index = text.find(mark, end if end > index + 1 else index + 1)
    return words
