"""deploy/grafana and the alert rules ask only for metrics the fleet exports: a renamed metric
would leave a panel empty or an alert silent without any error."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = json.loads((DEPLOY / "grafana" / "dashboards" / "fleet.json").read_text())
# Every module that defines metrics (labelled metrics are listed before their first sample).
METRIC_MODULES = (
    "shared.metrics.registry",
    "shared.metrics.http",
    "shared.metrics.grpc",
    "shared.metrics.messaging",
    "shared.metrics.streams",
    "feed.service",
    "feed_worker.fanout",
    "search_worker.handlers",
)
PROMQL_WORDS = {"histogram_quantile", "label_values", "by", "sum", "max", "rate", "deriv", "topk", "and"}
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def _exported() -> set[str]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names = {"up"}  # Prometheus's own, per target
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
    return names


def _metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}|\$\w+|\[[^]]*\]", "", expr)  # matchers, variables, ranges
    expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)  # grouping labels
    return {token for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if token not in PROMQL_WORDS}


def _dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel.get("targets", [])]


def test_every_dashboard_panel_queries_metrics_the_fleet_exports() -> None:
    exported = _exported()
    for expr in _dashboard_exprs():
        assert _metric_names(expr) <= exported, f"unknown metric in {expr}: {_metric_names(expr) - exported}"


def test_every_alert_queries_metrics_the_fleet_exports() -> None:
    exported = _exported()
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    for rule in (rule for group in rules["groups"] for rule in group["rules"]):
        unknown = _metric_names(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']}: unknown metrics {unknown}"


def test_the_dashboard_has_the_golden_signals_and_the_pipeline() -> None:
    exprs = " ".join(_dashboard_exprs())
    for metric in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "process_cpu_seconds_total",
        "outbox_oldest_age_seconds",
        "queue_depth_messages",
        "queue_dead_letters",
        "feed_fanout_duration_seconds_bucket",
        "search_index_lag_seconds_bucket",
        "feed_tweet_cache_lookups_total",
    ):
        assert metric in exprs, metric
    datasources = {
        target["datasource"]["uid"] for panel in DASHBOARD["panels"] for target in panel.get("targets", [])
    }
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert datasources == {source["uid"] for source in provisioned["datasources"]}
