"""Prometheus metrics of every process (prometheus-client).

- `shared.metrics.registry`: the process-wide switch ([Metrics] enabled), multi-process mode for a
  service running several processes on one port, and the text exposition.
- `shared.metrics.http` / `shared.metrics.grpc`: requests, errors and latency per route template and
  per RPC, installed by the shared app factory and gRPC server.
- `shared.metrics.messaging`: outbox backlog, queue depths, redeliveries and dead letters, sampled
  or counted by the shared relay and consumer.
- `shared.metrics.streams`: the open-streams gauge any streaming endpoint uses.
- `shared.metrics.server`: a worker's own `GET /metrics` port.

Every metric defined at import time has labels: its values are made at the first `.labels()`
call, after `registry.use_multiprocess` has chosen where they live (prometheus-client picks that
per value, when the value is made).
"""
