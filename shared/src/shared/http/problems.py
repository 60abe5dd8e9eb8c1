"""RFC 9457 problem+json: the one shape of every HTTP error of the fleet."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import DomainError, Overloaded, RateLimited, Unauthorized

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://errors.fleet.example/"
logger = logging.getLogger(__name__)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    status: int, title: str, detail: str, type_slug: str, instance: str | None = None, **extra: Any
) -> ProblemResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + type_slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return ProblemResponse(body, status_code=status)


async def _domain_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, DomainError)
    response = problem(exc.http_status, exc.title, exc.detail, exc.type_slug, request.url.path, **exc.extra)
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, (RateLimited, Overloaded)):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    if exc.http_status >= 500:
        logger.warning("%s %s -> %s: %s", request.method, request.url.path, exc.http_status, exc.detail)
    return response


# A body of many bad fields must not make a many times larger answer: the first ones are enough to fix.
MAX_REPORTED_ERRORS = 20


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    found = exc.errors()
    errors = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error.get("type", "")}
        for error in found[:MAX_REPORTED_ERRORS]
    ]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors) or "invalid request"
    if len(found) > len(errors):
        detail += f"; and {len(found) - len(errors)} more"
    return problem(
        422, "Invalid input", detail, "invalid-input", request.url.path, errors=errors, error_count=len(found)
    )


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}.get(
        exc.status_code, "HTTP error"
    )
    detail = exc.detail if isinstance(exc.detail, str) else title
    response = problem(exc.status_code, title, detail, f"http-{exc.status_code}", request.url.path)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _unhandled_error(request: Request, exc: Exception) -> ProblemResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "an unexpected error occurred", "internal-error", request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error a route can raise to problem+json, once for the whole app."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled_error)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": title,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, title in (
        # 400: a body that is not decodable (e.g. invalid UTF-8), which FastAPI refuses before validation.
        (400, "Bad request"),
        (401, "Unauthorized"),
        (422, "Invalid input"),
        (503, "Service unavailable"),
    )
}


def problem_responses(**descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem+json answers, e.g. problem_responses(**{"404": "no such user"})."""
    schema = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {int(status): {"description": text, "content": schema} for status, text in descriptions.items()}
