"""CI checks of ops/: the alert rules (promtool check and unit tests, a firing and a quiet case
per alert), every dashboard expression parsed, every metric an alert, runbook line or panel
names exported by OrderCare or RabbitMQ's plugin, and the broker definitions against the
queues, exchanges and bindings the code declares.

promtool comes from Debian's `prometheus` package (.ci/run installs it). Without it these
tests skip on a developer machine and fail in CI (CI=true).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from actors.settings import Settings
from actors.topology import declare

OPS = Path(__file__).resolve().parents[2] / "ops"
ALERTS = OPS / "prometheus" / "alerts.yml"
ALERT_TESTS = OPS / "prometheus" / "alerts_test.yml"
DASHBOARD = OPS / "grafana" / "ordercare.json"
DEFINITIONS = OPS / "rabbitmq" / "definitions.json"

#: The rabbitmq_prometheus plugin's series that alerts, runbooks and panels may name
#: (https://www.rabbitmq.com/docs/prometheus, per-object metrics).
RABBITMQ_METRICS = {
    "rabbitmq_queue_messages",
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_consumers",
    "rabbitmq_alarms_memory_used_watermark",
    "rabbitmq_alarms_free_disk_space_watermark",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus); CI runs this")
    return found


def run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def without_annotations(rules: str) -> str:
    """The rules with their annotations cut (promtool's unit tests compare them verbatim)."""
    out: list[str] = []
    cut: int | None = None
    for line in rules.splitlines():
        indent = len(line) - len(line.lstrip())
        if cut is not None and (not line.strip() or indent > cut):
            continue
        cut = None
        if line.strip() == "annotations:":
            cut = indent
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert: (\S+)$", ALERTS.read_text(), re.M)


def test_the_alert_rules_are_valid(promtool: str) -> None:
    run(promtool, "check", "rules", str(ALERTS))


def test_the_alert_unit_tests_pass(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_text(without_annotations(ALERTS.read_text()))
    shutil.copy(ALERT_TESTS, tmp_path / "alerts_test.yml")
    assert "SUCCESS" in run(promtool, "test", "rules", "alerts_test.yml", cwd=tmp_path)


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_quiet() -> None:
    text = ALERT_TESTS.read_text()
    quiet = set(re.findall(r"alertname: (\S+)\n\s+exp_alerts: \[\]", text))
    fires = set(re.findall(r"alertname: (\S+)\n\s+exp_alerts:\n\s+- exp_labels:", text))
    names = set(alert_names())
    assert len(names) == len(alert_names()) > 30
    assert names - fires == set(), "alerts without a firing case"
    assert names - quiet == set(), "alerts without a quiet case"


def dashboard_expressions() -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(DASHBOARD.read_text()))
    return found


def as_promql(expr: str) -> str:
    """A panel's expression with Grafana's variables replaced by what they stand for."""
    expr = re.sub(r"\$__(rate_)?interval|\$__range", "5m", expr)
    return re.sub(r"\$\{?\w+(:\w+)?\}?", "x", expr)


def test_every_dashboard_expression_parses(promtool: str, tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    assert len(expressions) > 20
    # Each expression as a recording rule: `promtool check rules` parses it without a server.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:panel_{n}", "expr": as_promql(e)}
                    for n, e in enumerate(expressions)
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(json.dumps(rules))  # JSON is YAML
    run(promtool, "check", "rules", str(tmp_path / "dashboard.yml"))


def exported_metrics() -> set[str]:
    """Every series name OrderCare's processes export, histogram and counter suffixes included."""
    from prometheus_client import REGISTRY

    import actors.metrics
    import notifier.metrics

    assert actors.metrics and notifier.metrics
    names = {"ordercare_heartbeat_timestamp_seconds", "ordercare_build_info"}
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names


def named_metrics(text: str) -> set[str]:
    names = set(re.findall(r"\b((?:ordercare|rabbitmq)_[a-z_]+)\b", text))
    return names - {"rabbitmq_prometheus"}  # the plugin's name


def test_every_metric_an_alert_runbook_or_panel_names_exists() -> None:
    known = exported_metrics() | RABBITMQ_METRICS
    assert "ordercare_command_handling_seconds_bucket" in known
    for source, text in (
        ("alerts.yml", ALERTS.read_text()),
        ("ordercare.json", "\n".join(dashboard_expressions())),
    ):
        unknown = named_metrics(text) - known
        assert unknown == set(), f"{source} names metrics nobody exports: {sorted(unknown)}"


class Recorder:
    """A pika channel that records what is declared."""

    def __init__(self) -> None:
        self.exchanges: dict[str, tuple[str, dict[str, Any]]] = {}
        self.queues: dict[str, dict[str, Any]] = {}
        self.bindings: set[tuple[str, str, str]] = set()

    def exchange_declare(
        self,
        exchange: str,
        exchange_type: str = "direct",
        durable: bool = False,
        arguments: dict[str, Any] | None = None,
        passive: bool = False,
    ) -> None:
        if not passive:
            self.exchanges[exchange] = (exchange_type, arguments or {})

    def queue_declare(
        self, queue: str, durable: bool = False, arguments: dict[str, Any] | None = None
    ) -> None:
        self.queues[queue] = arguments or {}

    def queue_bind(self, queue: str, exchange: str, routing_key: str | None = None) -> None:
        self.bindings.add((exchange, queue, routing_key or queue))


def topic_matches(pattern: str, key: str) -> bool:
    regex = re.escape(pattern).replace(r"\#", ".*").replace(r"\*", "[^.]+")
    return re.fullmatch(regex, key) is not None


def test_the_definitions_hold_what_the_code_declares() -> None:
    from notifier.consumer import declare as declare_notifier
    from notifier.settings import NotifierSettings

    defs = json.loads(DEFINITIONS.read_text())
    queues = {q["name"]: q["arguments"] for q in defs["queues"]}
    exchanges = {e["name"]: (e["type"], e["arguments"]) for e in defs["exchanges"]}
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in defs["bindings"]}
    code = Recorder()
    settings = Settings(queue_type="quorum")
    declare(code, settings)
    declare_notifier(code, NotifierSettings(queue_type="quorum"))

    for name, declared in code.exchanges.items():
        assert exchanges.get(name) == declared, name
    for name, arguments in code.queues.items():
        assert queues.get(name) == arguments, name
    for queue in settings.inbound_queues:  # Dramatiq's delay and given-up queues
        assert queues[f"{queue}.DQ"] == code.queues[queue]
        assert f"{queue}.XQ" in queues
    for exchange, queue, key in code.bindings:
        assert any(
            s == exchange and d == queue and topic_matches(k, key) for s, d, k in bindings
        ), (exchange, queue, key)
    # Nothing in the definitions that neither the code nor a consuming team owns.
    others = {"ordercare.events.warehouse", "ordercare.events.payments"}
    dramatiq = {f"{q}.{suffix}" for q in settings.inbound_queues for suffix in ("DQ", "XQ")}
    assert set(queues) == set(code.queues) | dramatiq | others
    assert set(exchanges) == set(code.exchanges)


def test_the_rendered_definitions_are_the_committed_ones_with_passwords() -> None:
    spec = importlib.util.spec_from_file_location(
        "render_definitions", OPS / "rabbitmq" / "render_definitions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = json.loads(DEFINITIONS.read_text())

    rendered, missing = module.render(json.loads(DEFINITIONS.read_text()), {}, None)
    assert rendered == committed
    assert missing == [u["name"] for u in committed["users"]]

    env = {f"ORDERCARE_RABBITMQ_PASSWORD_{u['name'].upper().replace('-', '_')}": "s3cret"
           for u in committed["users"]}  # fmt: skip
    rendered, missing = module.render(json.loads(DEFINITIONS.read_text()), env, None)
    assert missing == [] and all(u["password_hash"] for u in rendered["users"])
    for section in ("queues", "exchanges", "bindings", "policies", "permissions"):
        assert rendered[section] == committed[section]
