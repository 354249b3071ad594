"""ops/deploy: the Kubernetes manifests and systemd units are valid, and agree with the code.

Schemas: `kubernetes-validate` (its schemas ship in the package, so this runs offline) in
strict mode, which also refuses a misspelt field. Units: `systemd-analyze verify` on a
scratch root holding the host's system units, the units, the real health-check script and
a stand-in `ordercare`, wherever the tool is installed. The rest is what no schema knows:
probe ports equal to the metrics ports the processes listen on, a Deployment and a unit for
every process that runs until stopped, and only environment variables that are settings.
"""

from __future__ import annotations

import argparse
import http.server
import importlib.util
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from actors.cli import _parser
from actors.settings import Settings
from notifier.settings import NotifierSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "ops" / "deploy" / "kubernetes"
SYSTEMD = ROOT / "ops" / "deploy" / "systemd"

#: The Kubernetes release the manifests are checked against: the oldest minor still
#: commonly run; every field used here is GA there.
KUBERNETES_VERSION = "1.30"
#: Custom resources kubernetes-validate has no schema for (kept out of kustomization.yaml;
#: the checks below read them).
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "PodMonitor")}

#: `ordercare` subcommands. Those that run until stopped need a Deployment and a unit; a new
#: subcommand fails `test_every_subcommand_is_classified` until it is put in one of the two.
LONG_RUNNING = {"worker", "relay", "notifier", "sweep", "route"}
#: Run only where it is configured (ordering mode): not started by ordercare.target or
#: applied by the kustomization unless the operator adds it.
OPTIONAL = {"route"}
ONE_SHOT = {
    "db",
    "broker",
    "publish",
    "schema",
    "demo",
    "dead-letters",
    "outbox",
    "inbox",
    "doctor",
    "prune",
    "market",
}
#: Per kind: (Settings class, its metrics port field).
METRICS_PORTS: dict[str, tuple[type[BaseSettings], str]] = {
    "worker": (Settings, "worker_metrics_port"),
    "relay": (Settings, "relay_metrics_port"),
    "notifier": (NotifierSettings, "notifier_metrics_port"),
    "sweep": (Settings, "sweep_metrics_port"),
    "route": (Settings, "router_metrics_port"),
}
#: Settings issue 12 adds on another branch, with their agreed defaults; the Settings
#: class's own default wins as soon as the field exists there.
AGREED = {"sweep_metrics_port": 9467}
#: A wedged process is restarted within this many seconds.
WEDGE_SECONDS = 30
#: Where a process in a pod must listen for probes and scrapes to reach it.
ANY_ADDRESS = "0.0.0.0"  # noqa: S104


def setting_default(cls: type[BaseSettings], field: str) -> Any:
    if field in cls.model_fields:
        return cls.model_fields[field].default
    return AGREED[field]


def setting_names() -> set[str]:
    """Every environment variable a Settings class reads (env_prefix + field name)."""
    names = {
        f"{cls.model_config.get('env_prefix', '')}{field}".upper()
        for cls in (Settings, NotifierSettings)
        for field in cls.model_fields
    }
    return names | {f"ORDERCARE_{field}".upper() for field in AGREED}


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """(file, document) for every Kubernetes object under ops/deploy/kubernetes."""
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((str(path.relative_to(K8S)), doc))
    return found


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def environment(spec: dict[str, Any]) -> dict[str, str]:
    """What a container's environment holds, as far as the manifests say (ConfigMaps by
    envFrom, then env; values from Secrets as `secret:NAME`)."""
    config_maps = objects("ConfigMap")
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for var in spec.get("env", []):
        env[var["name"]] = var.get("value", f"secret:{var.get('valueFrom')}")
    return env


def deployment_of(kind: str) -> dict[str, Any]:
    return objects("Deployment")[f"ordercare-{kind}"]


def metrics_port(kind: str, env: dict[str, str]) -> int:
    cls, field = METRICS_PORTS[kind]
    variable = f"ORDERCARE_{field}".upper()
    return int(env.get(variable, setting_default(cls, field)))


def unit(name: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of every assignment in a unit file, in order."""
    entries, section = [], ""
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def values(name: str, key: str) -> list[str]:
    return [value for _, k, value in unit(name) if k == key]


def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "ordercare_healthcheck", SYSTEMD / "ordercare_healthcheck.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- schemas ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc", [doc for _, doc in manifests()], ids=[f"{f}:{d['kind']}" for f, d in manifests()]
)
def test_every_manifest_is_valid_kubernetes(doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        assert (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS, "no schema for this kind"
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        pytest.fail(
            f"{doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}", pytrace=False
        )


def test_kustomization_applies_every_manifest_but_the_examples_and_custom_resources() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    expected = {
        path.name
        for path in K8S.glob("*.yaml")
        if path.name != "kustomization.yaml" and not path.name.endswith(".example.yaml")
    }
    assert set(kustomization["resources"]) == expected
    for file, doc in manifests():
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            assert file not in kustomization["resources"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_it() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    docs = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "ordercare"
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def scratch_root(tmp_path: Path) -> Path:
    """A root for `systemd-analyze verify --root`: the host's system units (for the targets
    the units name), the units as installed, the real health check and a stand-in for the
    `ordercare` a release installs."""
    root = tmp_path / "root"
    host_units = next(p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                      if p.is_dir())  # fmt: skip
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    installed = root / "etc/systemd/system"
    installed.mkdir(parents=True)
    for path in SYSTEMD.iterdir():
        if path.suffix in {".service", ".timer", ".target"}:
            shutil.copy(path, installed / path.name)
    stand_ins = {
        root / "opt/ordercare/venv/bin/ordercare": "#!/bin/sh\n",
        root / "usr/local/libexec/ordercare-healthcheck": (
            SYSTEMD / "ordercare_healthcheck.py"
        ).read_text(),
    }
    for path, text in stand_ins.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    return root


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    root = scratch_root(tmp_path)
    names = [p.name for p in sorted(SYSTEMD.iterdir()) if p.suffix in {".service", ".timer",
                                                                           ".target"}]  # fmt: skip
    instances = [
        name.replace("@.", f"@{kind}.") if "@." in name else name
        for name in names
        for kind in (sorted(LONG_RUNNING) if "@." in name else [""])
    ]
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", *instances],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    # verify exits 0 on an unknown key or an unparsable value (it only warns): any output
    # at all is a finding.
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


# -- consistency --------------------------------------------------------------------------


def test_every_subcommand_is_classified() -> None:
    (subcommands,) = [
        action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    assert set(subcommands.choices) == LONG_RUNNING | ONE_SHOT
    assert not LONG_RUNNING & ONE_SHOT


@pytest.mark.parametrize("kind", sorted(LONG_RUNNING))
def test_every_long_running_process_has_a_deployment_and_a_unit(kind: str) -> None:
    assert container(deployment_of(kind))["command"] == ["ordercare", kind]
    service = f"ordercare-{kind}.service"
    (exec_start,) = values(service, "ExecStart")
    assert exec_start.split()[1:] == [kind]
    wanted = service in " ".join(values("ordercare.target", "Wants")).split()
    assert wanted == (kind not in OPTIONAL)
    assert kind in healthcheck().PORTS


def test_the_migration_runs_as_a_job_and_as_a_unit_the_processes_follow() -> None:
    (job,) = objects("Job").values()
    assert container_of_job(job)["command"] == ["ordercare", "db", "upgrade"]
    (exec_start,) = values("ordercare-db-upgrade.service", "ExecStart")
    assert exec_start.split()[1:] == ["db", "upgrade"]
    assert values("ordercare-db-upgrade.service", "Type") == ["oneshot"]
    for kind in LONG_RUNNING:
        service = f"ordercare-{kind}.service"
        for key in ("After", "Wants"):
            assert "ordercare-db-upgrade.service" in " ".join(values(service, key)).split()


def container_of_job(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.mark.parametrize("kind", sorted(LONG_RUNNING))
def test_probes_and_scrapes_reach_the_processes_metrics_port(kind: str) -> None:
    deployment = deployment_of(kind)
    spec = container(deployment)
    env = environment(spec)
    port = metrics_port(kind, env)
    assert env.get("ORDERCARE_METRICS_HOST") == ANY_ADDRESS  # else no probe reaches it

    (declared,) = [p for p in spec["ports"] if p["name"] == "metrics"]
    assert declared["containerPort"] == port
    probes = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
    for probe, path in probes.items():
        get = spec[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["port"] in ("metrics", port), probe
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("kind", sorted(LONG_RUNNING))
def test_a_wedge_is_caught_within_30_seconds_and_a_drain_has_its_time(kind: str) -> None:
    deployment = deployment_of(kind)
    liveness = container(deployment)["livenessProbe"]
    worst = liveness["periodSeconds"] * liveness["failureThreshold"] + liveness["timeoutSeconds"]
    assert worst <= WEDGE_SECONDS
    # The unit's health check: the next timer tick, then every try timing out.
    timer = " ".join(values("ordercare-healthcheck@.timer", "OnUnitInactiveSec"))
    check = healthcheck()
    tries = check.WATCH_TRIES * check.PROBE_TIMEOUT + (check.WATCH_TRIES - 1) * check.WATCH_PAUSE
    assert int(timer.removesuffix("s")) + tries <= WEDGE_SECONDS
    # Both deployments give SIGTERM the same time to drain.
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert values(f"ordercare-{kind}.service", "TimeoutStopSec") == [str(grace)]


def test_the_healthcheck_script_knows_the_settings_ports() -> None:
    for kind, (variable, default) in healthcheck().PORTS.items():
        cls, field = METRICS_PORTS[kind]
        assert variable == f"ORDERCARE_{field}".upper()
        assert default == setting_default(cls, field)


@pytest.mark.parametrize("kind", sorted(LONG_RUNNING))
def test_units_stop_gently_restart_and_check_health(kind: str) -> None:
    service = f"ordercare-{kind}.service"
    expected = {
        "KillMode": ["mixed"],
        "Restart": ["always"],
        "User": ["ordercare"],
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "PrivateTmp": ["yes"],
    }
    for key, value in expected.items():
        assert values(service, key) == value, key
    assert values(service, "EnvironmentFile")[0] == "/etc/ordercare/ordercare.env"
    assert values(service, "RestartSec")
    assert values(service, "ExecStartPost")[0].split()[:3] == [
        "/usr/local/libexec/ordercare-healthcheck", "ready", kind,
    ]  # fmt: skip
    assert f"ordercare-healthcheck@{kind}.timer" in " ".join(values(service, "Wants")).split()


def variables_in_manifests() -> dict[str, str]:
    """Environment variable -> the file that names it, over the Kubernetes objects."""
    used: dict[str, str] = {}
    for file, doc in manifests():
        used.update(dict.fromkeys(doc.get("data", {}) if doc["kind"] == "ConfigMap" else {}, file))
        used.update(dict.fromkeys(doc.get("stringData", {}), file))
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for spec in pod.get("containers", []):
            for var in spec.get("env", []):
                used[var["name"]] = file
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    used[ref["key"]] = file
    return used


def variables_in_units() -> dict[str, str]:
    """Environment variable -> the file that names it, over the units, the example
    environment files and the health check."""
    used: dict[str, str] = {}
    for path in SYSTEMD.iterdir():
        if path.suffix in {".service", ".timer", ".target"}:
            for assignment in values(path.name, "Environment"):
                used[assignment.partition("=")[0]] = path.name
        if path.name.endswith(".env.example"):
            for line in path.read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    used[line.partition("=")[0]] = path.name
    for variable, _default in healthcheck().PORTS.values():
        used[variable] = "ordercare_healthcheck.py"
    return used


def test_every_environment_variable_is_a_setting() -> None:
    used = variables_in_manifests() | variables_in_units()
    assert len(used) > 10, "hardly any environment variable found: the search is broken"
    unknown = {name: where for name, where in used.items() if name not in setting_names()}
    assert not unknown, f"not settings of actors/settings.py or notifier/settings.py: {unknown}"


def test_secrets_hold_the_secrets_and_the_config_map_does_not() -> None:
    secret = {"ORDERCARE_DATABASE_URL", "ORDERCARE_AMQP_URL", "ORDERCARE_SENDGRID_API_KEY"}
    (config,) = objects("ConfigMap").values()
    assert not secret & set(config["data"])
    in_secrets = {key for doc in objects("Secret").values() for key in doc["stringData"]}
    assert in_secrets == secret
    for doc in objects("Secret").values():
        assert all("CHANGE_ME" in value for value in doc["stringData"].values())


def test_the_pod_monitor_selects_every_process_by_its_metrics_port() -> None:
    (monitor,) = objects("PodMonitor").values()
    selector = monitor["spec"]["selector"]
    (components,) = [e["values"] for e in selector["matchExpressions"]]
    assert set(components) == LONG_RUNNING
    for kind in LONG_RUNNING:
        labels = deployment_of(kind)["spec"]["template"]["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] == kind
        # The job label: alerts and the dashboard select on job="ordercare-<kind>".
        assert labels[monitor["spec"]["jobLabel"]] == f"ordercare-{kind}"
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]


# -- the health-check script ---------------------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    status: dict[str, int] = {}

    def do_GET(self) -> None:
        self.send_response(self.status.get(self.path, 404))
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, dict[str, int]]]:
    status: dict[str, int] = {"/livez": 200, "/readyz": 503}
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], status
    server.shutdown()
    server.server_close()


def test_the_healthcheck_script_reads_the_endpoints(
    health_server: tuple[int, dict[str, int]],
) -> None:
    port, status = health_server
    check = healthcheck()
    env = {"ORDERCARE_RELAY_METRICS_PORT": str(port), "ORDERCARE_METRICS_HOST": ANY_ADDRESS}
    assert check.main(["live", "relay"], env) == 0
    assert check.main(["ready", "relay", "--wait", "0"], env) == 1  # 503
    status["/readyz"] = 200
    assert check.main(["ready", "relay", "--wait", "5"], env) == 0
    status["/livez"] = 503
    assert check.main(["live", "relay"], env) == 1
    assert check.url("worker", "/livez", {"ORDERCARE_METRICS_HOST": "::"}) == (
        "http://[::1]:9464/livez"
    )


def test_watch_restarts_only_an_active_unit_whose_livez_keeps_failing() -> None:
    check = healthcheck()
    calls: list[tuple[str, ...]] = []

    def systemctl(active: bool) -> Any:
        def run(*args: str) -> int:
            calls.append(args)
            return 0 if active or args[0] != "is-active" else 3

        return run

    assert check.watch("worker", "http://x/livez", systemctl(True), lambda _url: True) == 0
    assert check.watch("worker", "http://x/livez", systemctl(False), lambda _url: False) == 0
    assert ("try-restart", "--no-block", "ordercare-worker.service") not in calls
    assert check.watch("worker", "http://x/livez", systemctl(True), lambda _url: False) == 1
    assert calls[-1] == ("try-restart", "--no-block", "ordercare-worker.service")
