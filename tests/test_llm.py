"""The model client: the real openai client over real HTTP against the scripted local server."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from agenteval.errors import ConfigError, JudgeError
from agenteval.judges.llm import LLMClient, Tier, extract_json_object
from agenteval.judges.reply import judgment_model
from agenteval.models import StepType
from agenteval.testing import FakeOpenAIServer, Reply

JudgeReply = judgment_model(StepType.SYNTH, ("quality",), None)

MESSAGES = [{"role": "system", "content": "Judge the step. Answer in JSON."}, {"role": "user", "content": "step"}]


def tier(server: FakeOpenAIServer | None = None, *, model: str = "gpt-4o-mini", **kwargs) -> Tier:
    base_url = server.base_url if server is not None else kwargs.pop("base_url")
    kwargs.setdefault("timeout_s", 5.0)
    kwargs.setdefault("max_retries", 2)
    return Tier(model=model, base_url=base_url, **kwargs)


def complete(tiers: list[Tier], *, calls: int = 1, concurrency: int = 4, schema=JudgeReply, **kwargs):
    """Run ``calls`` completions with one client; the replies, or the JudgeError of the first failure."""

    async def main():
        client = LLMClient(tiers, concurrency=concurrency)
        try:
            return await asyncio.gather(*(client.complete_json(MESSAGES, schema, **kwargs) for _ in range(calls)))
        finally:
            await client.aclose()

    return asyncio.run(main())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_valid_reply_is_parsed_with_usage_and_asks_for_strict_json_schema_at_temperature_0():
    with FakeOpenAIServer([Reply.judgment(score=2, metrics=("a", "b"), usage=(120, 30))]) as server:
        [reply] = complete([tier(server)], schema=judgment_model(StepType.SYNTH, ("a", "b"), None))
    assert reply.value.scores() == {"a": 2, "b": 2}
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (120, 30)
    assert reply.model == "gpt-4o-mini" and reply.latency_s > 0
    [request] = server.requests
    assert request["temperature"] == 0 and request["messages"] == MESSAGES
    fmt = request["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["reasoning", "metric_scores", "failure_code", "confidence"]


def test_429_is_retried_after_the_retry_after_delay():
    with FakeOpenAIServer([Reply.rate_limited(retry_after=0.8)]) as server:
        started = time.perf_counter()
        [reply] = complete([tier(server)])
        elapsed = time.perf_counter() - started
    assert server.request_count == 2 and reply.value.scores() == {"quality": 4}
    assert elapsed >= 0.8  # the client's own backoff would have waited at most 0.5 s


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_retried(status):
    with FakeOpenAIServer([Reply.server_error(status)]) as server:
        [reply] = complete([tier(server)])
    assert server.request_count == 2 and reply.value.confidence == 0.9


def test_hang_times_out_retries_then_fails():
    with FakeOpenAIServer([Reply.hang(30), Reply.hang(30)]) as server:
        with pytest.raises(JudgeError, match=r"timed out after 0.2s, 1 retries"):
            complete([tier(server, timeout_s=0.2, max_retries=1)])
        assert server.request_count == 2


def test_malformed_body_is_retried_once():
    with FakeOpenAIServer([Reply.malformed()]) as server:
        [reply] = complete([tier(server)])
    assert server.request_count == 2 and reply.value.scores() == {"quality": 4}

    with FakeOpenAIServer([Reply.malformed(), Reply.malformed(), Reply.judgment()]) as server:
        with pytest.raises(JudgeError, match="invalid reply twice: unreadable response body"):
            complete([tier(server)])
    assert server.request_count == 2


def test_out_of_range_score_is_retried_once_then_fails():
    with FakeOpenAIServer([Reply.out_of_range()]) as server:
        [reply] = complete([tier(server)])
    assert server.request_count == 2 and reply.value.scores() == {"quality": 4}

    with FakeOpenAIServer(responder=lambda request: Reply.out_of_range(score=9)) as server:
        with pytest.raises(JudgeError, match=r"invalid reply twice: metric_scores\.quality: Input should be 1, 2, 3, 4 or 5"):
            complete([tier(server)])
    assert server.request_count == 2


def test_missing_field_and_failed_validate_hook_are_invalid_replies():
    with FakeOpenAIServer(responder=lambda request: Reply.missing_field("reasoning")) as server:
        with pytest.raises(JudgeError, match="reasoning: Field required"):
            complete([tier(server)])

    def needs_metric_x(reply):
        if "x" not in reply.scores():
            raise ValueError("no score for metric(s): x")

    with FakeOpenAIServer() as server:
        with pytest.raises(JudgeError, match=r"no score for metric\(s\): x"):
            complete([tier(server)], validate=needs_metric_x)
    assert server.request_count == 2


def test_server_rejecting_json_schema_gets_json_object_and_the_mode_is_remembered():
    with FakeOpenAIServer(reject_json_schema=True) as server:
        replies = complete([tier(server)], calls=1)
        assert replies[0].value.scores() == {"quality": 4}

        async def twice():
            client = LLMClient([tier(server)])
            try:
                await client.complete_json(MESSAGES, JudgeReply)
                await client.complete_json(MESSAGES, JudgeReply)
                return client.mode()
            finally:
                await client.aclose()

        assert asyncio.run(twice()) == "json_object"
    formats = [r.get("response_format", {}).get("type") for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_schema", "json_object", "json_object"]


def test_server_without_any_response_format_gets_plain_text_parsed_tolerantly():
    fenced = 'Here is my judgment:\n```json\n{"reasoning": "ok", "metric_scores": {"quality": 3}, "confidence": 0.5}\n```'

    def responder(request):
        if "response_format" in request:
            return Reply.error(400, "Unrecognized request argument supplied: response_format")
        return Reply.text(fenced)

    with FakeOpenAIServer(responder=responder) as server:
        [reply] = complete([tier(server)])
    assert reply.value.scores() == {"quality": 3} and reply.value.failure_code is None
    assert [r.get("response_format", {}).get("type") for r in server.requests] == ["json_schema", "json_object", None]


def test_a_400_after_the_format_worked_is_a_failure_not_a_downgrade():
    async def main(server):
        client = LLMClient([tier(server)])
        try:
            await client.complete_json(MESSAGES, JudgeReply)
            server.script(Reply.error(400, "This model's maximum context length is 128000 tokens"))
            with pytest.raises(JudgeError, match="HTTP 400: This model's maximum context length"):
                await client.complete_json(MESSAGES, JudgeReply)
            return client.mode()
        finally:
            await client.aclose()

    with FakeOpenAIServer() as server:
        assert asyncio.run(main(server)) == "json_schema"
        assert server.request_count == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('Sure. ```json\n{"a": {"b": [1, 2]}}\n``` Hope that helps {really}', {"a": {"b": [1, 2]}}),
        ('<think>maybe {"a": 0}? no</think>\n{"a": 2}', {"a": 2}),
        ('prose with {braces} first, then {"a": 3} trailing', {"a": 3}),
    ],
)
def test_extract_json_object(text, expected):
    assert extract_json_object(text) == expected


def test_extract_json_object_without_an_object_raises():
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json_object("I think the score is 4. [1, 2]")


def test_unreachable_first_tier_falls_back_to_the_next():
    with FakeOpenAIServer() as server:
        dead = tier(base_url=f"http://127.0.0.1:{closed_port()}/v1", model="gpt-4o", max_retries=0)
        [reply] = complete([dead, tier(server, model="gpt-4o-mini")])
    assert reply.model == "gpt-4o-mini" and server.request_count == 1


def test_auth_error_is_not_retried_and_falls_back():
    with FakeOpenAIServer(responder=lambda r: Reply.error(401, "Incorrect API key", type="invalid_api_key")) as bad:
        with FakeOpenAIServer() as good:
            [reply] = complete([tier(bad, model="gpt-4o"), tier(good, model="local-llama")])
    assert bad.request_count == 1 and reply.model == "local-llama"


def test_missing_api_key_for_openai_itself_fails_that_tier_without_a_request(monkeypatch):
    monkeypatch.delenv("AGENTEVAL_TEST_NO_KEY", raising=False)
    openai_tier = Tier(model="gpt-4o", api_key_env="AGENTEVAL_TEST_NO_KEY")
    with pytest.raises(JudgeError, match=r"gpt-4o@api.openai.com \(AGENTEVAL_TEST_NO_KEY is not set\)"):
        complete([openai_tier])
    with FakeOpenAIServer() as server:
        [reply] = complete([openai_tier, tier(server, model="local")])
    assert reply.model == "local"


def test_all_tiers_failing_is_one_line_naming_each_tier():
    port = closed_port()
    with FakeOpenAIServer(responder=lambda r: Reply.server_error(503)) as server:
        with pytest.raises(JudgeError) as raised:
            complete([tier(base_url=f"http://127.0.0.1:{port}/v1", model="a", max_retries=0), tier(server, model="b", max_retries=1)])
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("judge model failed on 2 tier(s): ")
    assert f"a@127.0.0.1:{port} (connection failed: " in message
    assert f"b@127.0.0.1:{server.port} (HTTP 503: " in message
    assert server.request_count == 2


def test_concurrency_is_bounded_and_connections_are_kept_alive():
    with FakeOpenAIServer(latency=0.05) as server:
        replies = complete([tier(server)], calls=12, concurrency=3)
    assert len(replies) == 12
    assert 2 <= server.max_in_flight <= 3
    assert server.connections <= 3  # reused across the 12 requests

    with FakeOpenAIServer() as server:
        complete([tier(server)], calls=1)

        async def sequential():
            client = LLMClient([tier(server)], concurrency=1)
            try:
                for _ in range(5):
                    await client.complete_json(MESSAGES, JudgeReply)
            finally:
                await client.aclose()

        asyncio.run(sequential())
    assert server.connections == 2  # one per client


def test_bad_configuration_is_a_config_error():
    with pytest.raises(ConfigError, match="no judge model"):
        LLMClient([])
    with pytest.raises(ConfigError, match="concurrency"):
        LLMClient([Tier(model="m")], concurrency=0)


def test_llama_slots_pin_each_prefix_to_a_slot_and_keep_the_prompt_cached():
    with FakeOpenAIServer() as server:
        complete([tier(server, llama_slots=5)], slot=3)
        complete([tier(server, llama_slots=2)], slot=3)
        complete([tier(server)], slot=3)  # an endpoint not marked as llama-server never sees the fields
    pinned, wrapped, plain = server.requests
    assert (pinned["id_slot"], pinned["cache_prompt"]) == (3, True)
    assert (wrapped["id_slot"], wrapped["cache_prompt"]) == (1, True)
    assert "id_slot" not in plain and "cache_prompt" not in plain
