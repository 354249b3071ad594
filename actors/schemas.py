"""Writing (or checking) contracts/schemas: the AsyncAPI document and one JSON Schema a type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import contracts
from contracts.asyncapi import document, message_schemas

DEFAULT_FOLDER = Path(contracts.__file__).parent / "schemas"


def rendered() -> dict[str, str]:
    files = {"asyncapi.json": _dump(document())}
    for name, schema in message_schemas().items():
        files[f"{name}.json"] = _dump(schema)
    return files


def write_schemas(folder: Path | None, *, check: bool) -> int:
    folder = folder or DEFAULT_FOLDER
    wanted = rendered()
    present = {p.name: p.read_text() for p in folder.glob("*.json")} if folder.exists() else {}
    if check:
        stale = sorted(n for n in wanted.keys() | present.keys() if wanted.get(n) != present.get(n))
        if stale:
            print(f"stale schemas in {folder}: {', '.join(stale)}; run `ordercare schema`")
            return 1
        print(f"{len(wanted)} schemas in {folder} are current")
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    for name in present.keys() - wanted.keys():
        (folder / name).unlink()
    for name, text in wanted.items():
        (folder / name).write_text(text)
    print(f"wrote {len(wanted)} files to {folder}")
    return 0


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
