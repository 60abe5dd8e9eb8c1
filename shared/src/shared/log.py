"""Process logging: one line per record with the service name and the current trace id."""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace


class _TraceIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        record.trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else "-"
        return True


def configure_logging(service_name: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TraceIdFilter())
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s {service_name} [trace=%(trace_id)s] %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access logs would carry query strings; request spans already record what is needed.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for noisy in ("aiormq", "aio_pika", "httpx", "elastic_transport"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
