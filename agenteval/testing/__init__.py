"""Test doubles shipped with agenteval, so its tests and yours never reach a real model.

``FakeOpenAIServer`` is a scripted OpenAI-compatible HTTP server on 127.0.0.1: the real ``openai``
client talks to it over real HTTP, so retries, timeouts and reply parsing are exercised for real.
``FakeGitHubAPI`` serves the GitHub REST calls of the sticky pull-request comment on 127.0.0.1.
``schema_filler()`` makes it answer like any schema-following model that knows nothing of agenteval:
random values that satisfy each request's JSON schema.
"""

from __future__ import annotations

from agenteval.testing.github import FakeGitHubAPI
from agenteval.testing.schema_fill import fill_schema, schema_filler
from agenteval.testing.server import FakeOpenAIServer, Reply, judgment_content

__all__ = ["FakeGitHubAPI", "FakeOpenAIServer", "Reply", "fill_schema", "judgment_content", "schema_filler"]
