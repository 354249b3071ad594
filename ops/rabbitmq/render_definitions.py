#!/usr/bin/env python3
"""Write a deployable copy of definitions.json with real password hashes (standard library only).

The committed definitions.json carries no secret: every user has an empty `password_hash`,
which RabbitMQ's internal backend treats as "no password login". Importing it as is
(re)creates the users *and clears any password they had*, so production imports the copy
this script renders, with each password taken from the environment:

    ORDERCARE_RABBITMQ_PASSWORD_ORDERCARE=...  ORDERCARE_RABBITMQ_PASSWORD_HELPDESK=... \\
        python3 ops/rabbitmq/render_definitions.py -o /run/secrets/ordercare-definitions.json

A user without a password variable keeps the empty hash (no password login) and is
reported on stderr; `--require-all` turns that into an error. `--vhost` renames the
vhost everywhere (a staging vhost, or a scratch copy for a check).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PREFIX = "ORDERCARE_RABBITMQ_PASSWORD_"
#: Sections whose entries name their vhost.
VHOST_SCOPED = (
    "permissions",
    "topic_permissions",
    "queues",
    "exchanges",
    "bindings",
    "policies",
    "parameters",
)


def rabbit_sha256(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(
        salt + hashlib.sha256(salt + password.encode("utf-8")).digest()
    ).decode()


def render(
    defs: dict[str, Any], env: dict[str, str], vhost: str | None
) -> tuple[dict[str, Any], list[str]]:
    missing = []
    for user in defs["users"]:
        password = env.get(PREFIX + user["name"].upper().replace("-", "_"))
        if password:
            user["password_hash"] = rabbit_sha256(password)
            user["hashing_algorithm"] = "rabbit_password_hashing_sha256"
        else:
            missing.append(user["name"])
    if vhost:
        old = {v["name"] for v in defs["vhosts"]}
        for item in defs["vhosts"]:
            item["name"] = vhost
        for section in VHOST_SCOPED:
            for item in defs.get(section, []):
                if item.get("vhost") in old:
                    item["vhost"] = vhost
    return defs, missing


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-i", "--input", type=Path, default=HERE / "definitions.json")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="where to write (keep it secret)"
    )
    parser.add_argument("--vhost", help="rename the vhost")
    parser.add_argument("--require-all", action="store_true", help="fail if a user has no password")
    args = parser.parse_args()
    defs, missing = render(json.loads(args.input.read_text()), dict(os.environ), args.vhost)
    if missing:
        names = ", ".join(PREFIX + m.upper().replace("-", "_") for m in missing)
        print(f"no password for: {names} (those users cannot log in)", file=sys.stderr)
        if args.require_all:
            return 1
    args.output.touch(mode=0o600)
    args.output.write_text(json.dumps(defs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
