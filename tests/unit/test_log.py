"""Log lines carry the trace id of the span they are written in (opentelemetry-instrumentation-logging)."""

from __future__ import annotations

import io
import logging

from opentelemetry import trace

from shared.log import configure_logging


def test_a_log_line_names_the_current_trace_and_none_outside_one() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("unit-test")
        stream = io.StringIO()
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        logger = logging.getLogger("unit.test")
        # Recorded spans: the test session's provider exports to memory (see conftest).
        with trace.get_tracer(__name__).start_as_current_span("work") as span:
            logger.warning("inside")
        logger.warning("outside")
        trace_id = format(span.get_span_context().trace_id, "032x")
        inside, outside = stream.getvalue().splitlines()
        assert f"unit-test [trace={trace_id}] unit.test: inside" in inside
        assert "unit-test [trace=0] unit.test: outside" in outside
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
