"""user search: an index for every branch of the match, the one-edit (typo) branch included

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

A typo match ("the query is one edit away from a prefix of the username or of the display name") was
only a levenshtein() filter, so every query of FUZZY_MIN_LENGTH (4) or more characters read the whole
table (EXPLAIN ANALYZE on 100,000 profiles: 100,000 rows filtered, 110-220 ms). Now each row stores
`typo_keys`, the symmetric-deletion keys of its first characters: if a query q is one edit away from
a prefix of a key k, then q[:5] is one edit away from k[:m] for m in 4..6 (k[:3..5] when q has 4
characters), so {q[:5]} and the one-deletion variants of q[:5] share an element with {k[:3], k[:4],
k[:5]} and the one-deletion variants of k[:4], k[:5] and k[:6]. A GIN index on the array yields
those candidates; levenshtein decides among them. Both sides are SQL functions defined here, side by
side (`user_search_typo_keys` for the stored column, `user_search_typo_probes` for a query).

No branch is served by trigrams any more: a trigram scan for 'marg%' or '% marg%' intersects long
posting lists ("  m", " ma", "mar"...) and is costed so high that on 10,000 profiles the planner read
the whole table instead (70-270 ms a query on a loaded 2-core machine; 3-8 ms through the indexes). Prefixes are btree ranges (text_pattern_ops); a display-name word prefix
('% marg%') is found through `name_word_starts` (the first 1 to 5 characters of every later word,
GIN-indexed) and checked by the LIKE. The pg_trgm extension stays (0002 made it); nothing uses it.

ix_user_profiles_num_followers goes: a user search counts every match (`count(*) OVER ()`), so it
reads all matches anyway, yet the planner, costing ORDER BY num_followers LIMIT n as if it could stop
early, walked that index over the whole table instead of using the others.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Keys cover prefixes up to 5 characters: a query's probes come from its first 5 (or 4) characters.
PROBE_LENGTH = 5


def _deletions(word: str, length: int) -> list[str]:
    """SQL for the `length` strings made by deleting one character of left(word, length)."""
    return [f"left({word}, {i - 1}) || substr({word}, {i + 1}, {length - i})" for i in range(1, length + 1)]


def _array_function(name: str, variable: str, elements: list[str]) -> str:
    # A plain expression of built-ins (no FROM, no SET): PostgreSQL inlines it, so computing the
    # column costs microseconds per row.
    return (
        f"CREATE FUNCTION {name}({variable} text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE"
        f" AS $$ SELECT ARRAY[{', '.join(elements)}] $$"
    )


# key: {k[:3], k[:4], k[:5]} and the deletions of k[:4], k[:5], k[:6]; query: {q[:5]} and the
# deletions of q[:5] (with 4 characters, q[:5] is q: the probes are those of q[:4]).
_TYPO_KEYS = _array_function(
    "user_search_typo_keys",
    "k",
    [f"left(k, {length})" for length in range(3, PROBE_LENGTH + 1)]
    + [sql for length in range(4, PROBE_LENGTH + 2) for sql in _deletions("k", length)],
)
_TYPO_PROBES = _array_function(
    "user_search_typo_probes", "q", [f"left(q, {PROBE_LENGTH})", *_deletions("q", PROBE_LENGTH)]
)


# The first characters (1 to 5) of each display-name word but the first (that one is a name prefix):
# a word-prefix match (`name_key LIKE '% q%'`) needs q's first word's first 5 characters among them.
_WORD_STARTS = """
CREATE FUNCTION user_search_word_starts(name text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT left(word, n)), '{}')
    FROM unnest((string_to_array(name, ' '))[2:]) AS word, generate_series(1, 5) AS n
    WHERE word <> ''
$$
"""


def upgrade() -> None:
    op.execute(_TYPO_KEYS)
    op.execute(_TYPO_PROBES)
    op.execute(
        "ALTER TABLE user_profiles ADD COLUMN typo_keys text[] GENERATED ALWAYS AS"
        " (user_search_typo_keys(username_key) || user_search_typo_keys(name_key)) STORED"
    )
    op.execute("CREATE INDEX ix_user_profiles_typo_keys ON user_profiles USING gin (typo_keys)")
    op.execute(_WORD_STARTS)
    op.execute(
        "ALTER TABLE user_profiles ADD COLUMN name_word_starts text[]"
        " GENERATED ALWAYS AS (user_search_word_starts(name_key)) STORED"
    )
    op.execute("CREATE INDEX ix_user_profiles_name_word_starts ON user_profiles USING gin (name_word_starts)")
    op.drop_index("ix_user_profiles_name_key", table_name="user_profiles")
    op.drop_index("ix_user_profiles_num_followers", table_name="user_profiles")
    # Prefixes by btree range (exact estimates, a few pages read) instead of the trigram index, whose
    # scans intersect long posting lists ("  m", " ma", "mar"...); name words stay on trigrams.
    op.drop_index("ix_user_profiles_username_key", table_name="user_profiles")
    op.execute(
        "CREATE INDEX ix_user_profiles_username_prefix ON user_profiles (username_key text_pattern_ops)"
    )
    op.execute("CREATE INDEX ix_user_profiles_name_prefix ON user_profiles (name_key text_pattern_ops)")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_user_profiles_name_key ON user_profiles USING gin (name_key gin_trgm_ops)")
    op.drop_index("ix_user_profiles_name_word_starts", table_name="user_profiles")
    op.drop_column("user_profiles", "name_word_starts")
    op.execute("DROP FUNCTION user_search_word_starts(text)")
    op.drop_index("ix_user_profiles_name_prefix", table_name="user_profiles")
    op.drop_index("ix_user_profiles_username_prefix", table_name="user_profiles")
    op.execute(
        "CREATE INDEX ix_user_profiles_username_key ON user_profiles USING gin (username_key gin_trgm_ops)"
    )
    op.execute("CREATE INDEX ix_user_profiles_num_followers ON user_profiles (num_followers DESC)")
    op.drop_index("ix_user_profiles_typo_keys", table_name="user_profiles")
    op.drop_column("user_profiles", "typo_keys")
    op.execute("DROP FUNCTION user_search_typo_probes(text)")
    op.execute("DROP FUNCTION user_search_typo_keys(text)")
