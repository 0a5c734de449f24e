"""One hierarchy of user-facing errors.

Every error a user can cause (a bad path, a malformed trace, an unreachable judge, a bad config)
is an ``AgentEvalError``. Its ``str()`` is one line that names the file or setting and the problem;
the CLI prints it and exits 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class AgentEvalError(Exception):
    """Base class for errors caused by user input, configuration or the environment."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.message = message
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class TraceError(AgentEvalError):
    """A trace file could not be read, parsed or understood."""


class DagError(TraceError):
    """A trace's steps do not form a valid DAG (duplicate ids, missing parents, cycles)."""


class RubricError(AgentEvalError):
    """A rubric file is missing or invalid."""


class TaxonomyError(AgentEvalError):
    """The failure taxonomy is missing or invalid."""


class ConfigError(AgentEvalError):
    """A setting, flag or config file is invalid."""


class JudgeError(AgentEvalError):
    """A judge could not produce a judgment (unreachable endpoint, invalid reply after retries)."""


class StoreError(AgentEvalError):
    """The DuckDB store could not be opened or a requested run does not exist."""


class ExportError(AgentEvalError):
    """Results could not be written or sent where they were asked to go (a file, an OTLP endpoint)."""
