"""Property-based fuzzing of every operation of every service's OpenAPI schema with schemathesis:
valid and invalid requests (authenticated with a real token), checked for server errors and for
answers that match the schema (status codes, content types, headers, bodies).

Requests go through the in-process apps of the session, on the session's event loop: Hypothesis
runs in a worker thread and hands each request to the loop, so the services' connections (bound to
that loop) are used as in production. Examples are derandomized, so a failure reproduces.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devtools.testing import Account

pytestmark = [
    pytest.mark.faults,  # slow: a few hundred requests per service
    # schemathesis' own strategies use `random`; nothing this suite can change.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = {GenerationMode.POSITIVE: 60, GenerationMode.NEGATIVE: 40}


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Any 5xx fails, except /ready's 503: reporting a slow or absent dependency is its job (and the
    shared test Redis can be slow while other suites load it)."""
    if case.operation.path == "/ready" and response.status_code == 503:
        return None
    result: bool | None = not_a_server_error(ctx, response, case)
    return result


RESPONSE_CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
Send = Callable[[dict[str, Any]], httpx.Response]


def as_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis' request (the `requests` keyword arguments) as httpx keyword arguments."""
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": {key: str(value) for key, value in (kwargs.get("headers") or {}).items()},
    }
    params = kwargs.get("params")
    if isinstance(params, dict):
        # `requests` drops None and sends booleans as True/False; do the same.
        request["params"] = [
            (key, str(item) if isinstance(item, bool) else item)
            for key, value in params.items()
            for item in (value if isinstance(value, list) else [value])
            if item is not None
        ]
    elif params:
        request["params"] = params
    if "json" in kwargs:
        # ASCII escapes: a generated lone surrogate travels as \\ud800, as from a real client.
        request["content"] = json.dumps(kwargs["json"], ensure_ascii=True).encode()
        request["headers"].setdefault("Content-Type", "application/json")
    elif isinstance(kwargs.get("data"), (bytes, str)):
        data = kwargs["data"]
        request["content"] = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    elif kwargs.get("data") is not None:
        request["data"] = kwargs["data"]
    return request


def fuzz_operation(operation: Any, mode: GenerationMode, send: Send, token: str) -> None:
    """Hypothesis over one operation; raises on the first request whose answer fails a check."""
    # negative_data_rejection is left out: it also counts unknown query parameters (`?=null`) as
    # invalid, and ignoring those is ordinary HTTP; out-of-range values are in test_bad_input.
    checks = RESPONSE_CHECKS
    headers = {"Authorization": f"Bearer {token}"}

    @hypothesis_settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        case.validate_response(send(as_httpx(kwargs)), checks=checks, headers=headers)

    check()


def fuzz(schema_document: dict[str, Any], send: Send, token: str) -> list[str]:
    """Every operation in both generation modes; one line per failing operation."""
    schema = schemathesis.openapi.from_dict(schema_document)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in EXAMPLES:
            try:
                fuzz_operation(operation, mode, send, token)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing in it can be made invalid
            except (AssertionError, BaseExceptionGroup) as exc:  # how schemathesis reports failed checks
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


async def fuzz_service(client: httpx.AsyncClient, app: Any, account: Account) -> list[str]:
    loop = asyncio.get_running_loop()

    def send(request: dict[str, Any]) -> httpx.Response:
        return asyncio.run_coroutine_threadsafe(client.request(**request), loop).result(timeout=60)

    return await asyncio.to_thread(fuzz, app.openapi(), send, account.token)


@pytest.mark.parametrize("service", ["users", "tweets", "feed", "search"])
async def test_api_answers_every_generated_request_as_its_schema_says(
    service: str, clients: dict[str, httpx.AsyncClient], alice: Account, request: pytest.FixtureRequest
) -> None:
    app = request.getfixturevalue(f"{service}_service").app
    failures = await fuzz_service(clients[service], app, alice)
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
