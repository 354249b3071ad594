#!/usr/bin/env python3
"""A three-node RabbitMQ cluster and a PostgreSQL primary with a streaming replica, on this
machine, for OrderCare (issue 15). Standard library only.

    ops/cluster/cluster.py up [--management]   # start everything, print the URLs to use
    ops/cluster/cluster.py status [--json]     # nodes, membership, quorum replicas, replica lag
    ops/cluster/cluster.py env                 # the URLs again, as `export` lines
    ops/cluster/cluster.py down                # stop all of it and delete the scratch folder
    ops/cluster/cluster.py kill NODE           # SIGKILL one RabbitMQ node (oc1, oc2 or oc3)
    ops/cluster/cluster.py start NODE          # start a stopped node again (it rejoins)

Everything lives under one scratch folder ($ORDERCARE_CLUSTER_DIR, default
/tmp/ordercare-cluster) and uses its own names and ports, so the machine's own RabbitMQ and
PostgreSQL are never touched:

- RabbitMQ nodes oc1@localhost, oc2@localhost, oc3@localhost on AMQP ports 5681-5683
  (distribution 25681-25683; management 15681-15683 with --management), their own Erlang
  cookie and their own epmd on port 4381, started from RabbitMQ's own scripts as the
  current user. oc2 and oc3 join oc1; the rendered ops/rabbitmq/definitions.json is imported
  (users get random passwords, kept in the scratch folder), every quorum queue is grown to
  the three nodes, and ops/rabbitmq/rabbitmq.conf is each node's configuration.
- PostgreSQL: a primary on 5441 (wal_level replica, its own pg_hba.conf allowing
  replication from 127.0.0.1) and a replica on 5442 made with `pg_basebackup -R`, run as
  the postgres user when this runs as root (the server refuses root).

Ports move together with ORDERCARE_CLUSTER_AMQP_PORT (oc1's; default 5681),
ORDERCARE_CLUSTER_PG_PORT (the primary's; default 5441) and ORDERCARE_CLUSTER_EPMD_PORT
(4381). `up` on a half-started folder cleans it first; `down` is idempotent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
RABBITMQ_DIR = HERE.parent / "rabbitmq"
RABBIT_BIN = Path(os.environ.get("ORDERCARE_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
VHOST = "ordercare"
#: The user OrderCare's processes connect as (ops/rabbitmq/definitions.json).
APP_USER = "ordercare"
NAMES = ("oc1", "oc2", "oc3")
HOST = "localhost"
#: Seconds a node may take to boot, and the whole of `up` at most per step.
BOOT_TIMEOUT = 90


def _pg_bin() -> Path:
    given = os.environ.get("ORDERCARE_PG_BIN")
    if given:
        return Path(given)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


class Layout:
    """Where everything is: folders, ports, node names (from the environment)."""

    def __init__(self) -> None:
        self.root = Path(os.environ.get("ORDERCARE_CLUSTER_DIR", "/tmp/ordercare-cluster"))  # noqa: S108
        self.amqp_port = int(os.environ.get("ORDERCARE_CLUSTER_AMQP_PORT", "5681"))
        self.pg_port = int(os.environ.get("ORDERCARE_CLUSTER_PG_PORT", "5441"))
        self.epmd_port = int(os.environ.get("ORDERCARE_CLUSTER_EPMD_PORT", "4381"))
        self.home = self.root / "home"  # the Erlang cookie (the nodes' and the CLI's HOME)
        self.pg = self.root / "pg"
        self.pg_bin = _pg_bin()

    def node(self, name: str) -> Node:
        return Node(self, NAMES.index(name))

    @property
    def nodes(self) -> list[Node]:
        return [Node(self, i) for i in range(len(NAMES))]

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def save(self, **changes: Any) -> None:
        state = self.state() | changes
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        self.state_file.chmod(0o600)

    @property
    def primary(self) -> Path:
        return self.pg / "primary"

    @property
    def replica(self) -> Path:
        return self.pg / "replica"

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(HOME=str(self.home), ERL_EPMD_PORT=str(self.epmd_port),
                   ERL_EPMD_ADDRESS="127.0.0.1", LC_ALL="C.UTF-8",
                   RABBITMQ_CONF_ENV_FILE=str(self.root / "rabbitmq-env.conf"))  # fmt: skip
        return env


class Node:
    """One RabbitMQ node of the cluster."""

    def __init__(self, layout: Layout, index: int) -> None:
        self.layout = layout
        self.short = NAMES[index]
        self.name = f"{self.short}@{HOST}"
        self.amqp_port = layout.amqp_port + index
        self.dist_port = layout.amqp_port + 20000 + index
        self.management_port = layout.amqp_port + 10000 + index
        self.dir = layout.root / "rabbit" / self.short
        self.pid_file = self.dir / "rabbitmq.pid"

    def env(self, management: bool) -> dict[str, str]:
        env = self.layout.base_env()
        env.update(
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.dir / "advanced.config"),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_MNESIA_DIR=str(self.dir / "mnesia" / self.name),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_LOGS=str(self.dir / "log" / "rabbit.log"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_PLUGINS_EXPAND_DIR=str(self.dir / "plugins-expand"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        if management:
            env["RABBITMQ_ENABLED_PLUGINS"] = "rabbitmq_management"
        return env

    def write_config(self, management: bool) -> None:
        (self.dir / "log").mkdir(parents=True, exist_ok=True)
        (self.dir / "mnesia").mkdir(exist_ok=True)
        shipped = (RABBITMQ_DIR / "rabbitmq.conf").read_text()
        lines = [
            shipped.rstrip(),
            "",
            "# ops/cluster/cluster.py: this node's own listener and logs",
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}",
            "log.console = false",
            "log.file.level = info",
            # Three nodes: the side that lost its majority pauses rather than split the brain.
            "cluster_partition_handling = pause_minority",
        ]
        if management:
            lines += [f"management.tcp.port = {self.management_port}",
                      "management.tcp.ip = 127.0.0.1"]  # fmt: skip
        (self.dir / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        plugins = "[rabbitmq_management]." if management else "[]."
        (self.dir / "enabled_plugins").write_text(plugins + "\n")

    def processes(self) -> list[int]:
        """This node's OS processes (its start script, the Erlang VM, its helpers): those whose
        environment names this node's pid file, which no other node shares."""
        return _processes_with(f"RABBITMQ_PID_FILE={self.pid_file}")

    def pid(self) -> int | None:
        """The running Erlang VM's OS pid."""
        for pid in self.processes():
            if _cmdline_has(pid, "beam"):
                return pid
        return None

    def start(self, management: bool) -> int:
        """Start the node (its scripts exec the Erlang VM: the pid stays the node's); its pid."""
        self.write_config(management)
        with (self.dir / "log" / "startup.log").open("ab") as out:
            pid = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")], env=self.env(management),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.dir, start_new_session=True,
            ).pid  # fmt: skip
        return pid

    def await_boot(self, pid: int) -> None:
        """Until RabbitMQ runs on the node (fails at once when the process died)."""
        ctl(self.layout, self.name, "wait", "--pid", str(pid), "--timeout", str(BOOT_TIMEOUT),
            timeout=BOOT_TIMEOUT + 10)  # fmt: skip

    def kill(self) -> bool:
        """SIGKILL the node's processes, the VM first; whether any was running."""
        pids = sorted(self.processes(), key=lambda p: not _cmdline_has(p, "beam"))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait(lambda: not any(_alive(p) for p in pids), 15, f"{self.name} to exit")
        return bool(pids)


# --- helpers ------------------------------------------------------------------------------


def _cmdline_has(pid: int, text: str) -> bool:
    try:
        return text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _processes_with(marker: str) -> list[int]:
    """Pids of the live processes whose environment holds `marker` (a NAME=value line)."""
    wanted = marker.encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ClusterError(Exception):
    """Something the operator must look at, in words."""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ctl(layout: Layout, node: str, *args: str, tool: str = "rabbitmqctl",
        timeout: float = 60, check: bool = True) -> str:  # fmt: skip
    """A RabbitMQ CLI tool against one of the cluster's nodes; its stdout."""
    argv = [str(RABBIT_BIN / tool), "-q", "-n", node, *args]
    done = subprocess.run(argv, env=layout.base_env(), capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=layout.root)  # fmt: skip
    if check and done.returncode != 0:
        raise ClusterError(f"{' '.join(argv[1:])} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[:600]}")  # fmt: skip
    return done.stdout


def as_postgres(argv: Sequence[str], check: bool = True, timeout: float = 120) -> str:
    """A PostgreSQL server tool as the postgres user (they refuse root)."""
    full = ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)
    done = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL, cwd="/")  # fmt: skip
    if check and done.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[:600]}")  # fmt: skip
    return done.stdout


def psql(layout: Layout, port: int, sql: str) -> list[list[str]]:
    """Rows of a query (as text) on one of the cluster's PostgreSQL servers."""
    out = subprocess.run(
        [str(layout.pg_bin / "psql"), "-X", "-A", "-t", "-F", "\t", "-h", "127.0.0.1", "-p",
         str(port), "-U", "postgres", "-d", "postgres", "-c", sql],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return [line.split("\t") for line in out.splitlines() if line]


# --- up -----------------------------------------------------------------------------------


def up(layout: Layout, management: bool) -> dict[str, Any]:
    """Start everything (cleaning a half-started folder first); returns what `env` prints."""
    if layout.state().get("up") and _nodes_answer(layout):
        say(f"already running in {layout.root}")
        return urls(layout)
    down(layout, quiet=True)
    _check_tools(layout)
    _check_ports(layout, management)
    started = time.monotonic()
    layout.root.mkdir(parents=True)
    layout.root.chmod(0o755)  # the postgres user must reach its folder inside
    layout.home.mkdir(mode=0o700)
    cookie = layout.home / ".erlang.cookie"
    cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(32)))
    cookie.chmod(0o400)
    (layout.root / "rabbitmq-env.conf").write_text(
        "# this cluster's own (empty) rabbitmq-env.conf\n"
    )
    layout.save(up=False, management=management, started_at=time.time())
    _start_epmd(layout)
    # PostgreSQL starts in a thread while the RabbitMQ nodes boot (mostly waiting on both).
    pg_error: list[BaseException] = []
    pg = threading.Thread(target=_catching(pg_error, lambda: start_postgres(layout)))
    pg.start()
    pids = [node.start(management) for node in layout.nodes]
    for node, pid in zip(layout.nodes, pids, strict=True):
        node.await_boot(pid)
    say(f"rabbitmq: 3 nodes booted ({time.monotonic() - started:.1f}s)")
    first = layout.nodes[0]
    joins = [threading.Thread(target=_catching(pg_error, partial(_join, layout, n, first)))
             for n in layout.nodes[1:]]  # fmt: skip
    for thread in joins:
        thread.start()
    for thread in joins:
        thread.join()
    if pg_error:
        raise pg_error[0]
    say(f"rabbitmq: cluster formed ({time.monotonic() - started:.1f}s)")
    passwords = _import_definitions(layout, first)
    say(
        f"rabbitmq: definitions imported, quorum queues on 3 nodes ({time.monotonic() - started:.1f}s)"
    )
    pg.join()
    if pg_error:
        raise pg_error[0]
    layout.save(up=True, passwords=passwords, took_seconds=round(time.monotonic() - started, 1))
    say(f"up in {time.monotonic() - started:.1f}s")
    return urls(layout)


def _catching(errors: list[BaseException], work: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    return run


def _check_tools(layout: Layout) -> None:
    missing = [str(p) for p in (RABBIT_BIN / "rabbitmq-server", layout.pg_bin / "pg_ctl")
               if not p.exists()]  # fmt: skip
    if missing or not shutil.which("epmd"):
        raise ClusterError(f"missing server binaries: {', '.join(missing) or 'epmd'} "
                           "(Debian: rabbitmq-server, postgresql)")  # fmt: skip


def _check_ports(layout: Layout, management: bool) -> None:
    ports = [layout.epmd_port, layout.pg_port, layout.pg_port + 1]
    for node in layout.nodes:
        ports += [node.amqp_port, node.dist_port] + ([node.management_port] if management else [])
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        raise ClusterError(f"ports in use on 127.0.0.1: {busy} (another cluster? set "
                           "ORDERCARE_CLUSTER_AMQP_PORT / _PG_PORT / _EPMD_PORT)")  # fmt: skip


def _start_epmd(layout: Layout) -> None:
    """The cluster's own epmd (the name server of Erlang nodes), so `down` can stop it."""
    with (layout.root / "epmd.log").open("ab") as out:
        epmd = subprocess.Popen(
            [shutil.which("epmd") or "epmd", "-port", str(layout.epmd_port), "-address", "127.0.0.1"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    layout.save(epmd_pid=epmd.pid)
    _wait(lambda: not _port_free(layout.epmd_port), 10, "epmd to listen")


def _join(layout: Layout, node: Node, first: Node) -> None:
    ctl(layout, node.name, "stop_app")
    ctl(layout, node.name, "join_cluster", first.name)
    ctl(layout, node.name, "start_app", timeout=BOOT_TIMEOUT)


def _import_definitions(layout: Layout, first: Node) -> dict[str, str]:
    """Render ops/rabbitmq/definitions.json with a password per user (from
    ORDERCARE_RABBITMQ_PASSWORD_<USER> when set, random otherwise), import it, and grow
    every quorum queue to all three nodes (a no-op when they were declared on three)."""
    defs = json.loads((RABBITMQ_DIR / "definitions.json").read_text())
    env = dict(os.environ)
    passwords = {}
    for user in defs["users"]:
        key = "ORDERCARE_RABBITMQ_PASSWORD_" + user["name"].upper().replace("-", "_")
        env[key] = passwords[user["name"]] = env.get(key) or secrets.token_urlsafe(12)
    rendered = layout.root / "definitions.json"
    subprocess.run([sys.executable, str(RABBITMQ_DIR / "render_definitions.py"), "--require-all",
                    "-o", str(rendered)], env=env, check=True, capture_output=True, timeout=30)  # fmt: skip
    try:
        ctl(layout, first.name, "import_definitions", str(rendered))
    finally:
        rendered.unlink(missing_ok=True)
    for node in layout.nodes:
        ctl(layout, first.name, "grow", node.name, "all", "--vhost-pattern", f"^{VHOST}$",
            "--queue-pattern", ".*", tool="rabbitmq-queues")  # fmt: skip
    return passwords


def _nodes_answer(layout: Layout) -> bool:
    return all(n.pid() is not None for n in layout.nodes)


def start_postgres(layout: Layout) -> None:
    """initdb a primary, pg_basebackup -R a replica of it, start both, await streaming."""
    bin_ = layout.pg_bin
    layout.pg.mkdir()
    if os.geteuid() == 0:
        shutil.chown(layout.pg, "postgres", "postgres")
    as_postgres([str(bin_ / "initdb"), "-D", str(layout.primary), "-U", "postgres", "-A", "trust",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"])  # fmt: skip
    conf = f"""
# ops/cluster/cluster.py: OrderCare's scratch primary
port = {layout.pg_port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{layout.pg}'
max_connections = 300
shared_buffers = 128MB
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 512MB
hot_standby = on
hot_standby_feedback = on
# a scratch cluster: nothing to keep across a machine crash
fsync = off
full_page_writes = off
"""
    _append_as_postgres(layout.primary / "postgresql.conf", conf)
    _append_as_postgres(layout.primary / "pg_hba.conf",
                        "host replication all 127.0.0.1/32 trust\n")  # fmt: skip
    as_postgres([str(bin_ / "pg_ctl"), "-D", str(layout.primary), "-l",
                 str(layout.pg / "primary.log"), "-w", "-t", "60", "start"])  # fmt: skip
    as_postgres([str(bin_ / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(layout.pg_port),
                 "-U", "postgres", "-D", str(layout.replica), "-R", "-X", "stream",
                 "-c", "fast", "--no-sync"])  # fmt: skip
    _append_as_postgres(layout.replica / "postgresql.auto.conf",
                        f"port = {layout.pg_port + 1}\n")  # fmt: skip
    as_postgres([str(bin_ / "pg_ctl"), "-D", str(layout.replica), "-l",
                 str(layout.pg / "replica.log"), "-w", "-t", "60", "start"])  # fmt: skip
    _wait(lambda: psql(layout, layout.pg_port,
                       "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'"),
          30, "the replica to stream")  # fmt: skip
    say("postgresql: primary and streaming replica up")


def _append_as_postgres(path: Path, text: str) -> None:
    with path.open("a") as f:  # root may write it; the owner stays postgres
        f.write(text)


# --- down ---------------------------------------------------------------------------------


def down(layout: Layout, quiet: bool = False) -> None:
    """Stop every node and server this folder's cluster started, then delete the folder."""
    if not layout.root.exists():
        if not quiet:
            say(f"nothing to stop: {layout.root} does not exist")
        return
    started = time.monotonic()
    for node in layout.nodes:
        if node.kill() and not quiet:
            say(f"stopped {node.name}")
    for data in (layout.replica, layout.primary):
        _stop_postgres(layout, data, quiet)
    epmd = layout.state().get("epmd_pid")
    if isinstance(epmd, int) and _cmdline_has(epmd, "epmd") and _alive(epmd):
        os.kill(epmd, signal.SIGTERM)
        _wait(lambda: not _alive(epmd), 10, "epmd to exit")
    shutil.rmtree(layout.root)
    if not quiet:
        say(f"down in {time.monotonic() - started:.1f}s; removed {layout.root}")


def _stop_postgres(layout: Layout, data: Path, quiet: bool) -> None:
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    stopped = subprocess.run(
        (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
        + [str(layout.pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
        capture_output=True, timeout=60, check=False, cwd="/",
    )  # fmt: skip
    if stopped.returncode != 0:  # a pid file left by a crash, or pg_ctl failing: by pid
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().split()[0])
            if _cmdline_has(pid, "postgres") and _alive(pid):
                os.kill(pid, signal.SIGQUIT)
                _wait(lambda: not _alive(pid), 15, f"postgres {data.name} to exit")
    if not quiet:
        say(f"stopped postgres {data.name}")


# --- status and urls ----------------------------------------------------------------------


def amqp_url(layout: Layout, user: str = APP_USER) -> str:
    """The comma-separated URL of every node, as `user` (its password from the state file):
    the first complete, the others taking its credentials and vhost (amqp_nodes)."""
    password = layout.state().get("passwords", {}).get(user)
    if password is None:
        raise ClusterError(f"no user {user!r} in this cluster's definitions")
    first, *rest = layout.nodes
    amqp = [f"amqp://{user}:{quote(password, safe='')}@127.0.0.1:{first.amqp_port}/{VHOST}"]
    amqp += [f"amqp://127.0.0.1:{n.amqp_port}" for n in rest]
    return ",".join(amqp)


def urls(layout: Layout) -> dict[str, Any]:
    """What OrderCare's processes need to run on this cluster."""
    state = layout.state()
    management = (f"http://127.0.0.1:{layout.nodes[0].management_port}" if state.get("management")
                  else "off")  # fmt: skip
    return {
        "ORDERCARE_AMQP_URL": amqp_url(layout),
        "ORDERCARE_QUEUE_TYPE": "quorum",
        "ORDERCARE_MANAGEMENT_URL": management,
        "ORDERCARE_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{layout.pg_port}/ordercare",
        "ORDERCARE_READ_DATABASE_URL":
            f"postgresql+psycopg://postgres@127.0.0.1:{layout.pg_port + 1}/ordercare",
    }  # fmt: skip


def exports(values: dict[str, Any]) -> str:
    return "\n".join(f"export {k}='{v}'" for k, v in values.items())


def publisher_hint(layout: Layout) -> str:
    users = [u for u in layout.state().get("passwords", {}) if u != APP_USER]
    return (f"# publishers have their own users ({', '.join(users)}): "
            f"ORDERCARE_AMQP_URL=\"$({sys.argv[0]} url helpdesk)\" ordercare publish FILE")  # fmt: skip


def status(layout: Layout) -> dict[str, Any]:
    """Each node's state, the membership, quorum queue replicas and the replica's lag."""
    report: dict[str, Any] = {"dir": str(layout.root), "nodes": {}, "queues": [], "postgres": {}}
    running = [n for n in layout.nodes if n.pid() is not None]
    for node in layout.nodes:
        report["nodes"][node.name] = {"os_pid": node.pid(), "amqp_port": node.amqp_port}
    if running:
        ask = running[0].name
        try:
            cluster = json.loads(ctl(layout, ask, "cluster_status", "--formatter", "json"))
            members = cluster.get("disk_nodes", []) + cluster.get("ram_nodes", [])
            up_nodes = cluster.get("running_nodes", [])
            report["members"] = members
            report["running"] = up_nodes
            report["partitions"] = cluster.get("partitions", {})
            report["alarms"] = cluster.get("alarms", [])
            queues = json.loads(ctl(layout, ask, "list_queues", "-p", VHOST, "name", "type",
                                    "members", "online", "leader", "messages",
                                    "--formatter", "json"))  # fmt: skip
            report["queues"] = queues
        except (ClusterError, subprocess.TimeoutExpired, ValueError) as exc:
            report["error"] = str(exc)
            up_nodes = []
        for node in layout.nodes:
            report["nodes"][node.name]["state"] = (
                "running" if node.name in up_nodes else "down" if node.pid() is None
                else "not running rabbit (booting, or paused)"
            )  # fmt: skip
    else:
        for node in layout.nodes:
            report["nodes"][node.name]["state"] = "down"
    report["postgres"] = _pg_status(layout)
    return report


def _pg_status(layout: Layout) -> dict[str, Any]:
    found: dict[str, Any] = {}
    try:
        rows = psql(layout, layout.pg_port,
                    "SELECT application_name, state, pg_current_wal_lsn(), replay_lsn, "
                    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), "
                    "coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication")  # fmt: skip
        found["primary"] = {"port": layout.pg_port, "state": "running", "replicas": [
            {"name": r[0], "state": r[1], "primary_lsn": r[2], "replay_lsn": r[3],
             "lag_bytes": int(r[4] or 0), "replay_lag_seconds": float(r[5] or 0)} for r in rows
        ]}  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        found["primary"] = {"port": layout.pg_port, "state": "down"}
    try:
        row = psql(layout, layout.pg_port + 1,
                   "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), "
                   "coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)")[0]  # fmt: skip
        found["replica"] = {"port": layout.pg_port + 1, "state": "running",
                            "in_recovery": row[0] == "t", "replay_lsn": row[1],
                            "since_last_replayed_commit_seconds": float(row[2] or 0)}  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, IndexError):
        found["replica"] = {"port": layout.pg_port + 1, "state": "down"}
    return found


def print_status(report: dict[str, Any]) -> None:
    print(f"cluster in {report['dir']}")
    for name, node in report["nodes"].items():
        print(
            f"  {name:16} {node['state']:10} amqp 127.0.0.1:{node['amqp_port']}  os pid {node['os_pid']}"
        )
    if "members" in report:
        print(f"  members: {', '.join(report['members'])}; running: {', '.join(report['running'])}")
        if (
            any(report["partitions"].values())
            if isinstance(report["partitions"], dict)
            else report["partitions"]
        ):
            print(f"  PARTITIONS: {report['partitions']}")
        if report["alarms"]:
            print(f"  alarms: {report['alarms']}")
    if report.get("error"):
        print(f"  rabbitmq: {report['error']}")
    for q in report["queues"]:
        if q.get("type") in ("quorum", "rabbit_quorum_queue"):
            members, online = q.get("members") or [], q.get("online") or []
            print(f"  {q['name']:34} quorum  {len(online)}/{len(members)} replicas online, "
                  f"leader {q.get('leader')}, {q.get('messages')} msgs")  # fmt: skip
        else:
            messages = q.get("messages")
            held = f"{messages} msgs" if messages not in (None, "") else "its node is down"
            print(f"  {q['name']:34} classic (one node, not replicated), {held}")
    primary, replica = report["postgres"]["primary"], report["postgres"]["replica"]
    print(f"  postgres primary  127.0.0.1:{primary['port']} {primary['state']}")
    for r in primary.get("replicas", []):
        print(f"    -> {r['name']} {r['state']}: replay lsn {r['replay_lsn']}, "
              f"lag {r['lag_bytes']} bytes, {r['replay_lag_seconds']:.3f}s")  # fmt: skip
    line = f"  postgres replica  127.0.0.1:{replica['port']} {replica['state']}"
    if replica["state"] == "running":
        line += (f", in recovery {replica['in_recovery']}, replayed up to {replica['replay_lsn']}, "
                 f"last replayed commit {replica['since_last_replayed_commit_seconds']:.1f}s ago")  # fmt: skip
    print(line)


# --- main ---------------------------------------------------------------------------------


def _status(layout: Layout, as_json: bool) -> None:
    if not layout.state_file.exists():
        raise ClusterError(f"no cluster in {layout.root} (run `up`)")
    report = status(layout)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_status(report)


def _one_node(layout: Layout, command: str, node: Node) -> None:
    if command == "kill":
        say(f"killed {node.name}" if node.kill() else f"{node.name} was not running")
    elif node.pid() is None:
        node.await_boot(node.start(bool(layout.state().get("management"))))
        say(f"{node.name} running")
    else:
        say(f"{node.name} already running")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the cluster and print the URLs")
    start.add_argument("--management", action="store_true",
                       help="enable the management plugin (ports 15681-15683)")  # fmt: skip
    start.add_argument("--json", action="store_true", help="print the URLs as JSON")
    sub.add_parser("down", help="stop everything and delete the scratch folder")
    show = sub.add_parser("status", help="nodes, membership, quorum replicas, replica lag")
    show.add_argument("--json", action="store_true")
    sub.add_parser("env", help="print the URLs as export lines")
    who = sub.add_parser("url", help="the AMQP URL of every node for one user (helpdesk, ...)")
    who.add_argument("user")
    for verb in ("kill", "start"):
        one = sub.add_parser(verb, help=f"{verb} one RabbitMQ node")
        one.add_argument("node", choices=NAMES)
    args = parser.parse_args(argv)
    layout = Layout()
    try:
        if args.command == "up":
            values = up(layout, args.management)
            print(
                json.dumps(values) if args.json else exports(values) + "\n" + publisher_hint(layout)
            )
        elif args.command == "down":
            down(layout)
        elif args.command == "status":
            _status(layout, args.json)
        elif args.command == "env":
            if not layout.state().get("up"):
                raise ClusterError(f"no cluster up in {layout.root} (run `up`)")
            print(exports(urls(layout)) + "\n" + publisher_hint(layout))
        elif args.command == "url":
            print(amqp_url(layout, args.user))
        else:
            _one_node(layout, args.command, layout.node(args.node))
    except (ClusterError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        say(f"cluster: {exc}")
        if args.command == "up" and layout.root.exists():
            say(f"what was started is still running: `{sys.argv[0]} down` removes it "
                "(`up` again also cleans it first); logs under "
                f"{layout.root}/rabbit/*/log and {layout.root}/pg")  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
