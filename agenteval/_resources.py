"""Where the bundled rubrics/ and taxonomy/ folders are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The bundled data folder ``name`` ("rubrics" or "taxonomy").

    A wheel carries it inside the package as ``_data/<name>``; a source checkout has it at the top.
    """
    installed = _PACKAGE / "_data" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name
