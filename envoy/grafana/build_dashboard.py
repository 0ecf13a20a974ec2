#!/usr/bin/env python3
"""Builds envoy/grafana/pumpguard.json, the Grafana dashboard of the Envoy filter's metrics,
with the Grafana Foundation SDK (PyPI `grafana-foundation-sdk`, installed by `just setup-ops`).

    build_dashboard.py           write pumpguard.json
    build_dashboard.py --check   exit 1 when pumpguard.json differs from what this builds

Every query is tested against a real Prometheus scraping a real Envoy (tests/ops/live_metrics.py).
"""

import argparse
import os
import sys

from grafana_foundation_sdk.builders.common import ReduceDataOptions, StackingConfig, VizLegendOptions, VizTooltipOptions
from grafana_foundation_sdk.builders.dashboard import (
    CustomVariable,
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery as PromQuery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    StackingMode,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableOption, VariableRefresh

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "pumpguard.json")

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
# The decisions of the plugins chosen in the `plugin` variable.
DECISIONS = 'pumpguard_decisions{plugin=~"$plugin"%s}'
RATE = "[$__rate_interval]"


def decisions(extra=""):
    return DECISIONS % ("," + extra if extra else "")


def zero_per_plugin():
    """A 0 per plugin, so a panel of failures draws a flat line when there are none."""
    return f"sum by (plugin) (0 * rate({decisions()}{RATE}))"


def query(expr, legend, ref="A"):
    return PromQuery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)


def timeseries(title, description, unit, *targets, stacked=False, width=12):
    panel = (
        Timeseries().title(title).description(description).unit(unit).datasource(DS).height(8).span(width)
        .legend(VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)
                .show_legend(True))
        .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING))
    )
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(30)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def build():
    # Imports of trusted numbers (action answer) are the site's own calls: neither refused nor judged.
    refused = decisions('mode="enforced",action!~"allow|answer"')
    enforced = decisions('mode="enforced",action!="answer"')
    siteverify = 'envoy_cluster_name="$siteverify_cluster"'
    allowed = decisions('mode="enforced",action="allow"')
    findings = decisions('action!~"allow|answer"')
    shadow = decisions('mode="shadow"')
    unavailable = decisions('reason="captcha_unavailable"')
    store_errors = decisions('reason=~"store_unavailable|host_call_failed"')
    return (
        Dashboard("pumpguard")
        .uid("pumpguard")
        .description("SMS pumping defence at the edge: what pumpguard decided, why, and its health. "
                     "Metrics from Envoy's /stats/prometheus (docs/operations.md).")
        .tags(["pumpguard", "envoy"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            QueryVariable("plugin").label("plugin").datasource(DS)
            .query("label_values(pumpguard_decisions, plugin)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True).include_all(True).all_value(".*")
        )
        .with_variable(
            CustomVariable("siteverify_cluster").label("siteverify cluster")
            .values("turnstile")
            .current(VariableOption(selected=True, text="turnstile", value="turnstile"))
        )
        .with_row(Row("Decisions"))
        .with_panel(
            Stat().title("Refused share").description(
                "Requests refused (block, throttle, challenge) out of all judged, enforced decisions only.")
            .unit("percentunit").datasource(DS).height(8).span(6)
            .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .with_target(query(f"sum(rate({refused}{RATE})) / sum(rate({enforced}{RATE}))", "refused"))
        )
        .with_panel(timeseries(
            "Decisions by action", "Every judged request by the action taken (enforced).", "reqps",
            query(f"sum by (action) (rate({enforced}{RATE}))", "{{action}}"), stacked=True, width=18))
        .with_panel(timeseries(
            "Refused by reason", "The error code each refused request got.", "reqps",
            query(f"sum by (reason) (rate({refused}{RATE}))", "{{reason}}"), stacked=True))
        .with_panel(timeseries(
            "Refused by rule", "The policy rule that decided each refused request (none: an input outcome).",
            "reqps", query(f"sum by (rule) (rate({refused}{RATE}))", "{{rule}}"), stacked=True))
        .with_panel(timeseries(
            "Allowed by destination country",
            "Requests let through to origin, each one a possible SMS, by the number's region: "
            "a pumping campaign that gets through shows here first.", "reqps",
            query(f'topk(10, sum by (country) (rate({allowed}{RATE})))',
                  "{{country}}")))
        .with_panel(timeseries(
            "Refused by destination country", "Refused requests by the number's region.", "reqps",
            query(f"topk(10, sum by (country) (rate({refused}{RATE})))", "{{country}}")))
        .with_panel(timeseries(
            "Shadow vs enforced findings",
            "Findings that refused a request (enforced) against those only reported (shadow rules, "
            "log actions, allowed inputs): what a shadow rule would refuse if enforced.", "reqps",
            query(f'sum by (mode) (rate({findings}{RATE}))', "{{mode}}")))
        .with_panel(timeseries(
            "Shadow findings by rule", "What each shadow rule would do, per reason.", "reqps",
            query(f'sum by (rule, reason) (rate({shadow}{RATE}))', "{{rule}} {{reason}}")))
        .with_row(Row("Health"))
        .with_panel(timeseries(
            "Siteverify latency", "CAPTCHA verification calls as Envoy timed them (cluster $siteverify_cluster).",
            "ms",
            query(f"histogram_quantile(0.5, sum by (le) (rate(envoy_cluster_upstream_rq_time_bucket{{{siteverify}}}{RATE})))",
                  "p50"),
            query(f"histogram_quantile(0.99, sum by (le) (rate(envoy_cluster_upstream_rq_time_bucket{{{siteverify}}}{RATE})))",
                  "p99", "B"), width=8))
        .with_panel(timeseries(
            "Siteverify failures",
            "Verifications that failed or timed out, as the filter saw them (captcha_unavailable), and "
            "the cluster's timeouts and 5xx.", "reqps",
            query(f'sum by (plugin) (rate({unavailable}{RATE})) or {zero_per_plugin()}',
                  "unavailable {{plugin}}"),
            query(f"sum(rate(envoy_cluster_upstream_rq_timeout{{{siteverify}}}{RATE})) "
                  f"+ sum(rate(envoy_cluster_upstream_cx_connect_fail{{{siteverify}}}{RATE}))", "timeouts + connect failures", "B"),
            width=8))
        .with_panel(timeseries(
            "Counter store errors",
            "Requests whose counters could not be read or written (store_unavailable, host_call_failed).",
            "reqps",
            query(f'sum by (plugin, reason) (rate({store_errors}{RATE})) '
                  f"or {zero_per_plugin()}", "{{plugin}} {{reason}}"), width=8))
        .with_panel(timeseries(
            "Counter store evictions",
            "What the bounded store gave up when full: history is expected under load; protected "
            "entries or dropped writes mean it is too small (docs/envoy.md, Sizing the counter store).",
            "ops",
            query('sum by (plugin) (rate(pumpguard_store_eviction_history_evicted{plugin=~"$plugin"}[$__rate_interval])) '
                  f"or {zero_per_plugin()}", "history {{plugin}}"),
            query('sum by (plugin) (rate(pumpguard_store_eviction_protected_evicted{plugin=~"$plugin"}[$__rate_interval])) '
                  f"or {zero_per_plugin()}", "protected {{plugin}}", "B"),
            query('sum by (plugin) (rate(pumpguard_store_eviction_write_dropped{plugin=~"$plugin"}[$__rate_interval])) '
                  f"or {zero_per_plugin()}", "dropped {{plugin}}", "C"), width=12))
        .with_panel(timeseries(
            "Wasm VM reloads", "VMs reloaded after a crash (failure_policy FAIL_RELOAD) and reloads that failed.",
            "short",
            query('sum(increase({__name__=~"envoy_wasm_.+_vm_reload"}[$__rate_interval]))', "reloads"),
            query('sum(increase({__name__=~"envoy_wasm_.+_vm_reload_failure"}[$__rate_interval]))', "failed", "B"),
            width=12))
        .with_panel(timeseries(
            "Inputs missing",
            "Share of requests lacking an input a rule of their route reads (client_country, bot_score, "
            "ja3, ja4, client_address), over 30 minutes. A few percent is normal (addresses no database places); "
            "most or all means the rule is blind (alert PumpguardInputMissing, docs/operations.md).",
            "percentunit",
            query('pumpguard:inputs_missing_ratio:rate30m{plugin=~"$plugin"}', "{{plugin}} {{input}}"),
            width=24))
    )


def render():
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="fail when pumpguard.json is out of date")
    args = ap.parse_args()
    text = render()
    if args.check:
        with open(OUT) as f:
            if f.read() != text:
                sys.exit(f"{OUT} is out of date: run `just grafana-dashboard` and commit it")
        print(f"{OUT}: up to date")
        return
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
