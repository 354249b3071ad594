"""/livez, /readyz and the heartbeat of each long-running process, started as README says."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.error
import urllib.request

import pika

from actors.health import STALE_SECONDS
from actors.settings import Settings
from actors.topology import declare
from actors.version import build_version
from tests.e2e.conftest import ORDERCARE, Processes, environment
from tests.e2e.test_processes import free_port
from tests.servers import wait_for


def get(port: int, path: str) -> tuple[int, str]:
    """(status, body); (0, "") while nothing listens yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0, ""


def heartbeats(body: str, process: str) -> dict[int, float]:
    pattern = rf'ordercare_heartbeat_timestamp_seconds\{{pid="(\d+)",process="{process}"\}} (\S+)'
    return {int(pid): float(at) for pid, at in re.findall(pattern, body)}


def test_the_worker_livez_fails_within_30_s_of_one_worker_process_freezing(
    processes: Processes,
) -> None:
    port = free_port()
    processes.start("worker", "--processes", "2", "--threads", "2", "--metrics-port", str(port))
    wait_for(lambda: get(port, "/readyz")[0] == 200, 60, "/readyz to answer 200")
    assert get(port, "/livez") == (200, "ok\n")
    assert get(port, "/healthz") == (200, "ok\n")
    assert get(port, "/nothing")[0] == 404
    status, body = get(port, "/metrics")
    assert status == 200
    assert f'ordercare_build_info{{version="{build_version()}"}} 1.0' in body
    # Counters an alert's increase() reads exist at zero before anything happened.
    assert 'ordercare_dead_letters_total{reason="handler_error"} 0.0' in body
    assert 'ordercare_rejections_total{code="internal_error"} 0.0' in body
    beats = heartbeats(body, "worker")
    assert len(beats) == 2 and all(time.time() - at < STALE_SECONDS for at in beats.values())

    frozen = min(beats)
    os.kill(frozen, signal.SIGSTOP)
    try:
        stopped_at = time.monotonic()
        status, body = wait_for(
            lambda: (answer := get(port, "/livez"))[0] == 503 and answer, 40, "/livez to fail"
        )
        took = time.monotonic() - stopped_at
        assert took < 30, took
        assert f"worker process {frozen}: no heartbeat" in body
        other = max(beats)
        assert str(other) not in body  # only the frozen one is named
        print(f"/livez failed {took:.1f} s after SIGSTOP of worker process {frozen}: {body!r}")
    finally:
        os.kill(frozen, signal.SIGCONT)
    wait_for(lambda: get(port, "/livez")[0] == 200, 20, "/livez to recover after SIGCONT")


def test_the_relay_is_ready_only_when_connected_and_names_a_wrong_broker(
    settings: Settings, processes: Processes
) -> None:
    port = free_port()
    processes.start("relay", "--metrics-port", str(port))
    wait_for(lambda: get(port, "/readyz")[0] == 200, 30, "the relay's /readyz")
    assert get(port, "/livez") == (200, "ok\n")
    body = get(port, "/metrics")[1]
    assert len(heartbeats(body, "relay")) == 1
    assert 'ordercare_outbox_publish_failures_total{reason="nacked"} 0.0' in body

    # Pointed at a broker that is not there, a relay says so in one line and exits: a
    # supervisor restarts it (a broker lost later is retried, one line per outage).
    wrong = free_port()  # nothing listens there
    env = environment(settings) | {"ORDERCARE_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{wrong}/"}
    lost = processes.children.start(
        [ORDERCARE, "relay", "--metrics-port", str(free_port())],
        env,
        processes.folder / "lost-relay.log",
        name="lost relay",
    )
    wait_for(lambda: lost.returncode is not None, 30, "the relay pointed at no broker to exit")
    assert lost.returncode == 1
    said = [line for line in lost.log.read_text().splitlines() if line.strip()]
    assert [line for line in said if f"127.0.0.1:{wrong}" in line] == said[-1:]
    assert "Traceback" not in lost.log.read_text()


def test_the_sweeper_exports_its_last_run_and_health(processes: Processes) -> None:
    port = free_port()
    processes.start("sweep", "--interval", "1", "--metrics-port", str(port))
    wait_for(lambda: get(port, "/readyz")[0] == 200, 30, "the sweeper's /readyz")
    body = wait_for(
        lambda: (
            (b := get(port, "/metrics")[1])
            and re.search(r"^ordercare_sweep_last_success_timestamp_seconds (\S+)$", b, re.M)
            and b
        ),
        20,
        "a finished round",
    )
    assert 'ordercare_sweep_commands_total{type="return.expire"} 0.0' in body
    assert 'ordercare_sweep_commands_total{type="appeasement.expire"} 0.0' in body
    assert len(heartbeats(body, "sweep")) == 1
    assert get(port, "/livez") == (200, "ok\n")


def test_the_notifier_is_ready_once_its_consumer_is_attached(
    settings: Settings, processes: Processes
) -> None:
    from tests.e2e.test_notifier_process import notifier_environment
    from tests.sendgrid_standin import running

    port = free_port()
    with running() as sendgrid:
        env = notifier_environment(settings, sendgrid)
        processes.start("notifier", "--metrics-port", str(port), env=env)
        # The events exchange is not declared yet: the consumer cannot attach.
        status, why = wait_for(lambda: (a := get(port, "/readyz"))[0] and a, 30, "/readyz")
        assert status == 503 and "broker: no consumer attached" in why
        assert get(port, "/livez") == (200, "ok\n")  # backing off is not wedged

        connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
        try:
            declare(connection.channel(), settings)
        finally:
            connection.close()
        wait_for(lambda: get(port, "/readyz")[0] == 200, 40, "the notifier's /readyz")
        body = get(port, "/metrics")[1]
        assert len(heartbeats(body, "notifier")) == 1
        assert 'ordercare_notifications_total{kind="shipped",outcome="failed"} 0.0' in body
