"""The effective settings and where each came from, as `agenteval config` prints them."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agenteval.config import ResolvedSettings


def _rows(model: BaseModel, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += _rows(value, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", value))
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (str, int, float, bool)) or hasattr(value, "__fspath__"):
        return str(value)
    dumped = json.loads(json.dumps(value, default=lambda v: getattr(v, "value", str(v))))
    return json.dumps(dumped, separators=(", ", ": "))


def settings_rows(resolved: ResolvedSettings) -> list[tuple[str, str, str]]:
    """(dotted setting, value as shown, origin) for every setting, in the order Settings declares them."""
    return [(key, _shown(value), resolved.origin(key)) for key, value in _rows(resolved.settings)]


def render_settings(resolved: ResolvedSettings, console: Console) -> None:
    """A table of every setting, its value and its origin; values not at their default stand out."""
    where = resolved.config_file or "none found (defaults, environment and flags only)"
    console.print(Text.assemble(("config file: ", "bold"), where))
    table = Table(title="Settings", title_justify="left")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("from", overflow="fold")
    for key, value, origin in settings_rows(resolved):
        style = "" if origin == "default" else "bold"
        table.add_row(Text(key, style=style), Text(value, style=style), Text(origin, style="dim" if origin == "default" else "cyan"))
    console.print(table)
