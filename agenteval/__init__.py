"""agenteval: step-level evaluation of LLM agent traces.

Reads traces into a typed step DAG, judges every step, separates direct from cascade failures,
attributes root causes, and stores runs in DuckDB for comparison and deploy gating.
"""

from agenteval.config import Settings, load_settings
from agenteval.dag import StepDAG
from agenteval.errors import AgentEvalError, ConfigError, DagError, JudgeError, StoreError, TraceError
from agenteval.models import (
    Judgment,
    RootCause,
    Run,
    Step,
    StepType,
    StepVerdict,
    Tool,
    Trace,
    TraceResult,
)

__version__ = "0.1.0"

__all__ = [
    "AgentEvalError",
    "ConfigError",
    "DagError",
    "JudgeError",
    "Judgment",
    "RootCause",
    "Run",
    "Settings",
    "Step",
    "StepDAG",
    "StepType",
    "StepVerdict",
    "StoreError",
    "Tool",
    "Trace",
    "TraceError",
    "TraceResult",
    "__version__",
    "load_settings",
]
