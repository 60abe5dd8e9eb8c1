"""Process logging: one line per record with the service name and the current trace id.

The trace id is put on every record by opentelemetry-instrumentation-logging (its record
factory; "0" outside a trace)."""

from __future__ import annotations

import logging
import sys

from opentelemetry.instrumentation.logging import LoggingInstrumentor

LOG_FORMAT = "%(asctime)s %(levelname)s {service} [trace=%(otelTraceID)s] %(name)s: %(message)s"


def configure_logging(service_name: str, level: str = "INFO") -> None:
    instrumentor = LoggingInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # The trace fields only; the handler and format are ours (set_logging_format would add
        # logging.basicConfig's).
        instrumentor.instrument(inject_trace_context=True, set_logging_format=False)
    handler = logging.StreamHandler(sys.stderr)
    # The default covers records made without the factory (logging.makeLogRecord).
    handler.setFormatter(
        logging.Formatter(LOG_FORMAT.format(service=service_name), defaults={"otelTraceID": "0"})
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access logs would carry query strings; request spans already record what is needed.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for noisy in ("aiormq", "aio_pika", "httpx", "elastic_transport"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
