#!/usr/bin/env python3
"""Fleuve's Grafana dashboards, built with Grafana's foundation SDK (PyPI
`grafana-foundation-sdk`, pinned in scripts/test).

    python deploy/grafana/dashboards.py            # rewrites deploy/grafana/dashboards/*.json
    python deploy/grafana/dashboards.py --check    # fails if a committed file differs
    python deploy/grafana/dashboards.py --exprs    # prints every panel's PromQL, one per line

Grafana provisions the JSON files (deploy/grafana/provisioning/). The test suite checks that
the committed files are this script's output, that promtool parses every expression, and that
every metric an expression uses is in a real scrape of `fleuve dev`.
"""

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as d
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Rate windows: Grafana's $__rate_interval adapts to the scrape interval; promtool checks the
# expressions with it replaced by 5m (see --exprs).
RATE = "$__rate_interval"


def query(expr, legend=None, exemplar=False):
    q = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    if exemplar:
        q = q.exemplar(True)
    return q


def series(title, unit, *queries, description=None, width=12, stacked=False):
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(8)
    if description:
        panel = panel.description(description)
    for q in queries:
        panel = panel.with_target(q)
    if stacked:
        panel = panel.fill_opacity(30)
    return panel


def single(title, unit, expr, description=None, width=6):
    panel = stat.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(4)
    if description:
        panel = panel.description(description)
    return panel.with_target(query(expr).instant())


def board(uid, title, description, rows):
    b = (
        d.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["fleuve"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .with_variable(
            d.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
    )
    for name, panels in rows:
        b = b.with_row(d.Row(name))
        for panel in panels:
            b = b.with_panel(panel)
    return b.build()


def p99(metric, by, where=""):
    return f"histogram_quantile(0.99, sum by ({by}, le) (rate({metric}_bucket{where}[{RATE}])))"


def p50(metric, by, where=""):
    return f"histogram_quantile(0.5, sum by ({by}, le) (rate({metric}_bucket{where}[{RATE}])))"


SERVER_FAULTS = 'grpc_code=~"UNKNOWN|INTERNAL|UNAVAILABLE|DATA_LOSS|DEADLINE_EXCEEDED"'
UNARY = '{grpc_method!~"Watch.*"}'


def overview():
    return board(
        "fleuve-overview",
        "Fleuve / Overview",
        "Every process at a glance: up, calls, errors, latency, sagas, backbone health.",
        [
            ("Processes", [
                single("Processes up", "none", 'sum(up{job=~"fleuve.*"})'),
                single("Processes down", "none", 'count(up{job=~"fleuve.*"} == 0) or vector(0)'),
                single("Dead letters parked", "none", "sum(max by (consumer) (fleuve_dead_letters_parked))"),
                single("Oldest outbox row", "s", "max(fleuve_outbox_oldest_pending_age_seconds)"),
            ]),
            ("gRPC", [
                series("Calls by service", "reqps",
                       query(f"sum by (grpc_service) (rate(fleuve_grpc_server_handled_total[{RATE}]))", "{{grpc_service}}")),
                series("Server faults (ratio)", "percentunit",
                       query(f"sum by (grpc_service) (rate(fleuve_grpc_server_handled_total{{{SERVER_FAULTS}}}[{RATE}])) "
                             f"/ sum by (grpc_service) (rate(fleuve_grpc_server_handled_total[{RATE}]))", "{{grpc_service}}")),
                series("p99 latency of unary calls", "s",
                       query(p99("fleuve_grpc_server_handling_seconds", "grpc_service", UNARY), "{{grpc_service}}", exemplar=True),
                       width=24),
            ]),
            ("Saga and backbone", [
                series("Sagas finished", "ops",
                       query(f"sum by (outcome) (rate(fleuve_saga_finished_total[{RATE}]))", "{{outcome}}")),
                series("Consumer lag", "short",
                       query("sum by (group) (fleuve_consumer_lag_records)", "{{group}}")),
            ]),
        ],
    )


def homologation():
    return board(
        "fleuve-homologation",
        "Fleuve / Homologation",
        "The type-approval back-office: dossiers and certificates, their read models, the public registry and notifications.",
        [
            ("Commands", [
                series("Dossier and certificate calls", "reqps",
                       query("sum by (grpc_method) (rate(fleuve_grpc_server_handled_total"
                             f'{{grpc_service=~"fleuve.homologation.v1.(DossierService|CertificateService)"}}[{RATE}]))',
                             "{{grpc_method}}")),
                series("Refused calls by code", "reqps",
                       query("sum by (grpc_code) (rate(fleuve_grpc_server_handled_total"
                             f'{{grpc_service=~"fleuve.homologation.v1.*",grpc_code!="OK"}}[{RATE}]))', "{{grpc_code}}")),
                series("Events appended", "ops",
                       query("sum by (aggregate_type) (rate(fleuve_event_store_appended_events_total"
                             f'{{aggregate_type=~"dossier|certificate"}}[{RATE}]))', "{{aggregate_type}}")),
                series("Append conflicts", "ops",
                       query("sum by (aggregate_type) (rate(fleuve_event_store_conflicts_total"
                             f'{{aggregate_type=~"dossier|certificate"}}[{RATE}]))', "{{aggregate_type}}")),
            ]),
            ("Read models", [
                series("Projection lag p99", "s",
                       query(p99("fleuve_projection_lag_seconds", "consumer",
                                 '{consumer=~"certificate-registry|statistics|notification"}'), "{{consumer}}", exemplar=True)),
                series("Registry cache", "ops",
                       query(f"sum by (layer) (rate(fleuve_cache_hits_total[{RATE}]))", "hit {{layer}}"),
                       query(f"sum(rate(fleuve_cache_misses_total[{RATE}]))", "miss")),
            ]),
            ("People", [
                series("Token refusals", "ops",
                       query(f"sum by (reason) (rate(fleuve_jwt_refusals_total[{RATE}]))", "{{reason}}")),
                series("Notification deliveries", "ops",
                       query(f"sum by (channel, outcome) (rate(fleuve_notification_deliveries_total[{RATE}]))",
                             "{{channel}} {{outcome}}")),
            ]),
        ],
    )


def saga():
    return board(
        "fleuve-saga",
        "Fleuve / Commerce saga",
        "Orders through stock and billing: where they are, how they end, how long they take, missed deadlines.",
        [
            ("Orders", [
                single("Confirmed (range)", "none", "sum(increase(fleuve_saga_finished_total{outcome=\"confirmed\"}[$__range]))"),
                single("Compensated (range)", "none", "sum(increase(fleuve_saga_finished_total{outcome=\"compensated\"}[$__range]))"),
                single("Failed (range)", "none", "sum(increase(fleuve_saga_finished_total{outcome=\"failed\"}[$__range]))"),
                single("Past their deadline", "none", "max(fleuve_saga_overdue_orders)"),
                series("Orders by state", "short", query("max by (state) (fleuve_saga_orders)", "{{state}}"), stacked=True),
                series("Sagas finished", "ops",
                       query(f"sum by (outcome) (rate(fleuve_saga_finished_total[{RATE}]))", "{{outcome}}")),
            ]),
            ("Timing", [
                series("Saga duration", "s",
                       query(p50("fleuve_saga_duration_seconds", "outcome"), "p50 {{outcome}}"),
                       query(p99("fleuve_saga_duration_seconds", "outcome"), "p99 {{outcome}}", exemplar=True)),
                series("Deadlines fired", "ops",
                       query(f"sum(rate(fleuve_saga_deadlines_fired_total[{RATE}]))", "fired")),
                series("PlaceOrder latency", "s",
                       query(p99("fleuve_grpc_server_handling_seconds", "grpc_method", '{grpc_method="PlaceOrder"}'),
                             "p99", exemplar=True)),
                series("Participants' lag", "s",
                       query(p99("fleuve_projection_lag_seconds", "consumer", '{consumer=~"order-saga|stock|billing"}'),
                             "{{consumer}}")),
            ]),
        ],
    )


def backbone():
    return board(
        "fleuve-backbone",
        "Fleuve / Backbone",
        "Event store, outbox relay, Kafka consumers, dead letters and database pools.",
        [
            ("Event store", [
                series("Appends", "ops",
                       query(f"sum by (aggregate_type) (rate(fleuve_event_store_appends_total[{RATE}]))", "{{aggregate_type}}")),
                series("Conflicts", "ops",
                       query(f"sum by (aggregate_type) (rate(fleuve_event_store_conflicts_total[{RATE}]))", "{{aggregate_type}}")),
                series("Append latency p99", "s",
                       query(p99("fleuve_event_store_append_seconds", "aggregate_type"), "{{aggregate_type}}"), width=24),
            ]),
            ("Outbox relay", [
                series("Outbox", "short",
                       query("sum by (instance) (fleuve_outbox_pending_rows)", "pending {{instance}}")),
                series("Oldest pending row", "s",
                       query("max by (instance) (fleuve_outbox_oldest_pending_age_seconds)", "{{instance}}")),
                series("Published and failed", "ops",
                       query(f"sum by (topic) (rate(fleuve_relay_published_total[{RATE}]))", "{{topic}}"),
                       query(f"sum by (topic) (rate(fleuve_relay_errors_total[{RATE}]))", "failed {{topic}}")),
                series("Publish latency p99", "s",
                       query(p99("fleuve_relay_publish_seconds", "topic"), "{{topic}}")),
            ]),
            ("Consumers", [
                series("Records", "ops",
                       query(f"sum by (consumer, outcome) (rate(fleuve_consumer_records_total[{RATE}]))",
                             "{{consumer}} {{outcome}}")),
                series("Lag by partition", "short",
                       query("fleuve_consumer_lag_records", "{{group}} {{topic}}/{{partition}}")),
                series("Projection lag p99", "s",
                       query(p99("fleuve_projection_lag_seconds", "consumer"), "{{consumer}}", exemplar=True)),
                series("Dead letters parked", "short",
                       query("max by (consumer) (fleuve_dead_letters_parked)", "{{consumer}}")),
            ]),
            ("Database", [
                series("Pool connections", "short",
                       query("sum by (pool, state) (fleuve_db_pool_connections)", "{{pool}} {{state}}"),
                       query("sum by (pool) (fleuve_db_pool_max_connections)", "{{pool}} max")),
                series("Checkouts that waited", "percentunit",
                       query(f"sum(rate(fleuve_db_pool_waits_total[{RATE}])) / sum(rate(fleuve_db_pool_checkouts_total[{RATE}]))",
                             "waited")),
                series("Checkout time p99", "s",
                       query(p99("fleuve_db_pool_checkout_seconds", "instance"), "{{instance}}")),
                series("Builds running", "short",
                       query("count by (version) (fleuve_build_info)", "{{version}}")),
            ]),
        ],
    )


BOARDS = {"overview": overview, "homologation": homologation, "saga": saga, "backbone": backbone}


def render(build):
    """The dashboard's JSON, with what Grafana expects of provisioned files and the SDK
    leaves to the caller: unique panel ids, a refId per query, no `null` options."""
    model = json.loads(JSONEncoder(sort_keys=True).encode(build()))
    for number, panel in enumerate(model["panels"], start=1):
        panel["id"] = number
        if panel.get("options", {}) is None:
            del panel["options"]
        for index, target in enumerate(panel.get("targets", [])):
            target["refId"] = chr(ord("A") + index)
    return json.dumps(model, sort_keys=True, indent=2) + "\n"


def exprs():
    """Every panel expression, as Prometheus would run it."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for build in BOARDS.values():
        walk(json.loads(render(build)))
    return [e.replace("$__rate_interval", "5m").replace("$__range", "1h") for e in found]


def main(argv):
    if "--exprs" in argv:
        for expr in exprs():
            print(" ".join(expr.split()))
        return 0
    OUT.mkdir(exist_ok=True)
    stale = []
    for name, build in BOARDS.items():
        path = OUT / f"{name}.json"
        text = render(build)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale dashboards: {', '.join(stale)}; run python deploy/grafana/dashboards.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
