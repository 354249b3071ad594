"""Published messages checked against the committed JSON Schemas (contracts/schemas).

Views built from already-valid domain values skip pydantic's validation
(`model_construct`), so what they serialise is checked here instead, against the documents
subscribers are given.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from pydantic import BaseModel

SCHEMAS = Path(__file__).resolve().parents[1] / "contracts" / "schemas"


@functools.cache
def validator(message_type: str) -> Draft202012Validator:
    schema = orjson.loads((SCHEMAS / f"{message_type}.json").read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_matches_schema(event: BaseModel) -> None:
    """The event's data as it goes on the wire is valid against its committed schema."""
    message_type: str = getattr(event, "TYPE")  # noqa: B009 - every published model has one
    wire: Any = orjson.loads(orjson.dumps(event.model_dump(mode="json")))
    errors = sorted(validator(message_type).iter_errors(wire), key=lambda e: list(e.path))
    assert not errors, f"{message_type}: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message[:200]}" for e in errors[:5]
    )
