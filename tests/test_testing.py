"""The scripted OpenAI-compatible server, talked to with plain HTTP (the client side is in test_llm.py)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from contextlib import closing

from agenteval.testing import FakeOpenAIServer, Reply, judgment_content


def _post(conn: http.client.HTTPConnection, body: dict, path: str = "/v1/chat/completions") -> tuple[int, dict, dict]:
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), json.loads(response.read())


def _conn(server: FakeOpenAIServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)


def test_default_reply_is_a_chat_completion_with_a_judgment_and_usage():
    with FakeOpenAIServer(score=2, metrics=("a", "b")) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        with closing(_conn(server)) as conn:
            status, _, body = _post(conn, {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200
    assert body["model"] == "m"
    assert json.loads(body["choices"][0]["message"]["content"]) == judgment_content(2, ("a", "b"))
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert server.requests == [{"model": "m", "messages": [{"role": "user", "content": "hi"}]}]


def test_scripted_replies_come_first_in_order_then_the_responder():
    seen = []

    def responder(request: dict) -> str:
        seen.append(request["n"])
        return "from responder"

    server = FakeOpenAIServer([Reply.rate_limited(0.5), Reply.text("scripted")], responder=responder)
    with server, closing(_conn(server)) as conn:
        status, headers, body = _post(conn, {"n": 1})
        assert (status, headers["Retry-After"], body["error"]["type"]) == (429, "0.5", "rate_limit_error")
        assert _post(conn, {"n": 2})[2]["choices"][0]["message"]["content"] == "scripted"
        assert _post(conn, {"n": 3})[2]["choices"][0]["message"]["content"] == "from responder"
        assert server.connections == 1  # HTTP/1.1 keep-alive: one connection for all three
    assert seen == [3]


def test_models_route_unknown_route_and_json_schema_rejection():
    server = FakeOpenAIServer(models=("judge-a",), reject_json_schema=True)
    with server, closing(_conn(server)) as conn:
        conn.request("GET", "/v1/models")
        assert json.loads(conn.getresponse().read())["data"][0]["id"] == "judge-a"
        assert _post(conn, {}, path="/v1/embeddings")[0] == 404
        status, _, body = _post(conn, {"response_format": {"type": "json_schema", "json_schema": {}}})
        assert status == 400 and body["error"]["param"] == "response_format"
        assert _post(conn, {"response_format": {"type": "json_object"}})[0] == 200


def test_malformed_body_and_concurrent_requests_are_counted():
    server = FakeOpenAIServer([Reply.malformed()], latency=0.1)
    with server, closing(_conn(server)) as conn:
        conn.request("POST", "/v1/chat/completions", body="{}", headers={"Content-Type": "application/json"})
        raw = conn.getresponse().read()
        try:
            json.loads(raw)
            raise AssertionError("body should not be JSON")
        except ValueError:
            pass
        def post_once() -> None:
            with closing(_conn(server)) as own:
                _post(own, {})

        threads = [threading.Thread(target=post_once) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert server.request_count == 5
        assert 2 <= server.max_in_flight <= 4


def test_close_releases_a_hung_request():
    server = FakeOpenAIServer([Reply.hang(30)]).start()
    with closing(_conn(server)) as conn:
        conn.request("POST", "/v1/chat/completions", body="{}", headers={"Content-Type": "application/json"})
        started = time.monotonic()
        server.close()  # returns promptly even though a handler is sleeping
        assert time.monotonic() - started < 5
        try:
            conn.getresponse()
            raise AssertionError("a hung request must not be answered")
        except (http.client.HTTPException, OSError):
            pass


def test_schema_filler_gives_random_values_valid_for_any_schema():
    import random

    import jsonschema
    from openai.lib._pydantic import to_strict_json_schema

    from agenteval.judges.reply import answers_model, judgment_model
    from agenteval.models import StepType
    from agenteval.testing import fill_schema

    schemas = [
        to_strict_json_schema(judgment_model(StepType.PLAN, ["covers_goal", "sensible_order"], ["P1.1", "P2.1"])),
        to_strict_json_schema(answers_model([("q1", ("yes", "no"), "?"), ("q2", ("a", "b", "c"), "?")])),
        {"type": "object", "required": ["n", "tags", "maybe", "pick", "ref"],
         "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 4},
                        "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "minItems": 2},
                        "maybe": {"type": ["string", "null"]}, "pick": {"const": "fixed"},
                        "ref": {"$ref": "#/$defs/flag"}},
         "$defs": {"flag": {"anyOf": [{"type": "boolean"}, {"type": "null"}]}}, "additionalProperties": False},
    ]
    rng = random.Random(7)
    for schema in schemas:
        values = [fill_schema(schema, rng) for _ in range(40)]
        for value in values:
            jsonschema.validate(value, schema)
        assert len({json.dumps(v, sort_keys=True) for v in values}) > 5  # random, not one fixed answer


def test_schema_filler_answers_json_object_requests_from_the_prompts_template():
    from agenteval.testing import schema_filler

    respond = schema_filler(3)
    prompt = 'Data: {"order": 1}\nReply with: {"q1": "yes"|"no", "q2": "get_weather"|"search_web", "c": <0.0-1.0>}'
    answers = [respond({"messages": [{"role": "user", "content": prompt}], "response_format": {"type": "json_object"}})
               for _ in range(20)]
    assert all(a["q1"] in ("yes", "no") and a["q2"] in ("get_weather", "search_web") and 0 <= a["c"] <= 1 for a in answers)
    assert {a["q1"] for a in answers} == {"yes", "no"}
