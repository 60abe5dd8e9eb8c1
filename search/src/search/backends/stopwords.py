"""The stop words of PostgreSQL's `english` text-search configuration (tsearch_data/english.stop).

Both backends use this one list: PostgreSQL through its `english` configuration, Elasticsearch
through the analyzer built in `search.backends.elasticsearch`, and the query check in
`search.backends.base`, so a query is rejected as "only stop words" the same way whichever
backend serves it.
"""

from __future__ import annotations

ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
    her hers herself it its itself they them their theirs themselves what which who whom this that
    these those am is are was were be been being have has had having do does did doing a an the and
    but if or because as until while of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then once here
    there when where why how all any both each few more most other some such no nor not only own same
    so than too very s t can will just don should now
    """.split()  # noqa: SIM905 - kept as the paragraph PostgreSQL ships, easy to compare
)
