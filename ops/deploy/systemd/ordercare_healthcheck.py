#!/usr/bin/python3
"""OrderCare's health checks for systemd, which has no HTTP probe of its own.

Installed as /usr/local/libexec/ordercare-healthcheck; the Python standard library only,
so it runs on the host's python3 (curl may not be installed):

  ordercare-healthcheck ready KIND [--wait S]   ExecStartPost= of ordercare-KIND.service: wait
                                                up to S seconds for /readyz to answer 200
  ordercare-healthcheck live KIND               exit 0 when /livez answers 200, 1 otherwise
  ordercare-healthcheck watch KIND              ordercare-healthcheck@KIND.service (its timer
                                                runs it every 10 s): when ordercare-KIND is
                                                active and /livez fails 3 times in a row,
                                                restart it

KIND is worker, relay, notifier or sweep. The endpoint is the process's own metrics port,
read from the environment variable the process reads (the units share
/etc/ordercare/ordercare.env), on ORDERCARE_METRICS_HOST (any-address means loopback).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence

#: Process kind -> (the environment variable of its metrics port, that setting's default).
#: tests/unit/test_deploy.py keeps these equal to the Settings classes.
PORTS: dict[str, tuple[str, int]] = {
    "worker": ("ORDERCARE_WORKER_METRICS_PORT", 9464),
    "relay": ("ORDERCARE_RELAY_METRICS_PORT", 9465),
    "notifier": ("ORDERCARE_NOTIFIER_METRICS_PORT", 9466),
    "sweep": ("ORDERCARE_SWEEP_METRICS_PORT", 9467),
    "route": ("ORDERCARE_ROUTER_METRICS_PORT", 9468),
}
LIVE, READY = "/livez", "/readyz"
#: `watch`: a wedge is declared after this many failed probes, this far apart, each given
#: this long to answer: at most about 10 s, so with the 10 s timer a wedged process is
#: restarted within 30 s.
WATCH_TRIES, WATCH_PAUSE, PROBE_TIMEOUT = 3, 2.0, 2.0


def url(kind: str, path: str, environ: Mapping[str, str]) -> str:
    """The health endpoint `path` of the process `kind`."""
    variable, default = PORTS[kind]
    port = int(environ.get(variable) or default)
    if port == 0:
        raise SystemExit(f"{variable}=0 turns the metrics port off: there is no {path} to check")
    host = environ.get("ORDERCARE_METRICS_HOST") or "127.0.0.1"
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


def answers_ok(endpoint: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when `endpoint` answers 200 within `timeout`."""
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False  # HTTPError (503) is a URLError; refused, reset and timeouts are OSErrors


def wait_ready(endpoint: str, wait: float, pause: float = 1.0) -> bool:
    deadline = time.monotonic() + wait
    while True:
        if answers_ok(endpoint):
            return True
        if time.monotonic() + pause > deadline:
            return False
        time.sleep(pause)


def live(endpoint: str, tries: int = WATCH_TRIES, pause: float = WATCH_PAUSE) -> bool:
    """True unless every one of `tries` probes fails: one slow answer is not a wedge."""
    for attempt in range(tries):
        if answers_ok(endpoint):
            return True
        if attempt + 1 < tries:
            time.sleep(pause)
    return False


def systemctl(*args: str) -> int:
    return subprocess.run(["systemctl", *args], check=False).returncode


def watch(kind: str, endpoint: str, run: Callable[..., int] = systemctl,
          check: Callable[[str], bool] = live) -> int:  # fmt: skip
    """Restart ordercare-KIND when it is active and its /livez keeps failing."""
    unit = f"ordercare-{kind}.service"
    if run("is-active", "--quiet", unit) != 0:
        return 0  # stopped, failed or still starting: nothing to watch (ExecStartPost waits)
    if check(endpoint):
        return 0
    print(f"{unit}: {endpoint} failed {WATCH_TRIES} times in a row; restarting", file=sys.stderr)
    run("try-restart", "--no-block", unit)
    return 1


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="ordercare-healthcheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("action", choices=["ready", "live", "watch"])
    parser.add_argument("kind", choices=sorted(PORTS))
    parser.add_argument("--wait", type=float, default=0.0, help="ready: seconds to wait")
    args = parser.parse_args(argv)
    if args.action == "ready":
        endpoint = url(args.kind, READY, environ)
        if wait_ready(endpoint, args.wait):
            return 0
        print(f"{endpoint} did not answer 200 within {args.wait:g} s", file=sys.stderr)
        return 1
    endpoint = url(args.kind, LIVE, environ)
    if args.action == "live":
        return 0 if answers_ok(endpoint) else 1
    return watch(args.kind, endpoint)


if __name__ == "__main__":
    sys.exit(main())
