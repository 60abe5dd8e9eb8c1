"""What the search routes get from the lifespan's wiring, as typed dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from search.backends.base import SearchBackend
from search.service import SearchService
from shared.wiring import Limiting, wiring_of


@dataclass(kw_only=True)
class SearchWiring(Limiting):
    """Everything the search process builds in its lifespan for its routes and /ready."""

    backend: SearchBackend
    searcher: SearchService


async def _searcher(request: Request) -> SearchService:
    return wiring_of(request.app, SearchWiring).searcher


Searcher = Annotated[SearchService, Depends(_searcher)]
