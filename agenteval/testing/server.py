"""A scripted OpenAI-compatible HTTP server for tests (stdlib only).

It speaks enough of the OpenAI REST protocol (``POST /v1/chat/completions``, ``GET /v1/models``) for
the real ``openai`` client to talk to it over real HTTP/1.1 with keep-alive, and it can be scripted
to misbehave the way real endpoints do: rate limits with ``Retry-After``, 5xx errors, hangs, malformed
bodies, invalid judgments, and servers that reject ``response_format: json_schema``. With
``responder=schema_filler()`` (``agenteval.testing.schema_fill``) it acts as a model that knows
nothing but the JSON schema of each request and fills it with random valid values.

Example:
    >>> with FakeOpenAIServer([Reply.rate_limited(), Reply.judgment(score=2)]) as server:
    ...     client = openai.OpenAI(base_url=server.base_url, api_key="x")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], Any]


def judgment_content(
    score: int = 4,
    metrics: Sequence[str] = ("quality",),
    *,
    reasoning: str = "The step does what its input asked for.",
    failure_code: str | None = None,
    confidence: float = 0.9,
) -> dict[str, Any]:
    """A judgment in agenteval's judge reply schema, every metric scored ``score``."""
    return {
        "reasoning": reasoning,
        "metric_scores": {name: score for name in metrics},
        "failure_code": failure_code,
        "confidence": confidence,
    }


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the fake server.

    Attributes:
        status: HTTP status code.
        content: ``choices[0].message.content`` of a chat completion; a dict or list is sent as JSON text.
        body: A raw response body sent instead of a chat completion (errors, malformed JSON).
        headers: Extra response headers (``Retry-After``, ``Content-Type``).
        delay_s: Seconds to wait before answering (a hang when longer than the client's timeout).
        usage: ``(prompt_tokens, completion_tokens)``; by default estimated from the text sizes.
        finish_reason: ``choices[0].finish_reason``.
    """

    status: int = 200
    content: Any = None
    body: str | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    usage: tuple[int, int] | None = None
    finish_reason: str = "stop"

    @classmethod
    def judgment(cls, score: int = 4, metrics: Sequence[str] = ("quality",), **kwargs: Any) -> Reply:
        """A valid judgment; keyword arguments go to ``judgment_content``."""
        usage = kwargs.pop("usage", None)
        return cls(content=judgment_content(score, metrics, **kwargs), usage=usage)

    @classmethod
    def text(cls, text: str) -> Reply:
        """A completion whose content is ``text`` verbatim (prose, fenced JSON, ...)."""
        return cls(content=text)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "error",
        *,
        type: str = "invalid_request_error",  # noqa: A002 - the OpenAI error field is called type
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """An OpenAI-style error body with the given status."""
        payload = {"error": {"message": message, "type": type, "param": param, "code": None}}
        return cls(status=status, body=json.dumps(payload), headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_after: float = 0.01) -> Reply:
        """429 with a ``Retry-After`` header (seconds; fractions keep tests fast)."""
        return cls.error(429, "Rate limit reached", type="rate_limit_error", headers={"Retry-After": str(retry_after)})

    @classmethod
    def server_error(cls, status: int = 500, retry_after: float | None = 0.01) -> Reply:
        """A 5xx error, by default with a short ``Retry-After`` so clients retry quickly."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return cls.error(status, "The server had an error", type="server_error", headers=headers)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Reply:
        """Answer only after ``seconds`` (or never, if the server closes first)."""
        return cls(content=judgment_content(), delay_s=seconds)

    @classmethod
    def malformed(cls) -> Reply:
        """A 200 whose body claims to be JSON and is not."""
        return cls(body='{"id": "chatcmpl-broken", "choices": [', headers={"Content-Type": "application/json"})

    @classmethod
    def out_of_range(cls, metrics: Sequence[str] = ("quality",), score: int = 7) -> Reply:
        """A judgment whose scores fall outside 1-5."""
        return cls(content=judgment_content(score, metrics))

    @classmethod
    def missing_field(cls, name: str = "confidence", metrics: Sequence[str] = ("quality",)) -> Reply:
        """A judgment with one top-level field left out."""
        content = judgment_content(4, metrics)
        content.pop(name, None)
        return cls(content=content)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The stdlib's listen backlog is 5: more clients connecting at once (a judge with concurrency 16)
    # overflow it, and their connections wait out a 1 s SYN retransmit.
    request_queue_size = 128
    fake: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is part of the script, not an error worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed
    # ACK (~40 ms on Linux) on every kept-alive request. Real servers set TCP_NODELAY too.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._count_connection()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/") != "/v1/models":
            self._send(Reply.error(404, f"no route {self.path}", type="not_found"))
            return
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "agenteval"} for m in self.server.fake.models]
        self._send(Reply(body=json.dumps({"object": "list", "data": data})))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(Reply.error(404, f"no route {self.path}", type="not_found"))
            return
        try:
            request = json.loads(raw)
        except ValueError:
            self._send(Reply.error(400, "request body is not JSON"))
            return
        fake = self.server.fake
        fake._enter(request)
        try:
            reply = fake._reply_for(request)
            if not fake._wait(fake.latency + reply.delay_s):
                self.close_connection = True  # server closing: drop the hung request
                return
            self._send(reply, request)
        finally:
            fake._leave()

    def _send(self, reply: Reply, request: dict[str, Any] | None = None) -> None:
        headers = {"Content-Type": "application/json", **reply.headers}
        if reply.body is not None:
            payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
        else:
            payload = json.dumps(_completion(reply, request or {})).encode()
        try:
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client gave up (timeout) and closed the socket


def _completion(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    content = reply.content if reply.content is not None else judgment_content()
    text = content if isinstance(content, str) else json.dumps(content)
    if reply.usage is not None:
        prompt_tokens, completion_tokens = reply.usage
    else:
        # Roughly 4 characters a token: deterministic and in the right order of magnitude.
        prompt_tokens = max(1, len(json.dumps(request.get("messages", []))) // 4)
        completion_tokens = max(1, len(text) // 4)
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake-judge"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeOpenAIServer:
    """A scripted OpenAI-compatible server on 127.0.0.1, run in a background thread.

    Each chat request is answered by the next scripted reply if any is queued, else by ``responder``
    if given, else by a valid judgment scoring every metric in ``metrics`` with ``score``.

    Args:
        replies: Replies to send, in order, before falling back to ``responder`` or the default.
        responder: ``callable(request_json) -> Reply | dict | str | None``; a dict or str becomes the
            message content, None the default judgment.
        latency: Seconds added to every chat response.
        reject_json_schema: Answer 400 to ``response_format: {"type": "json_schema"}`` requests, like
            servers that do not support structured outputs.
        score: Score of the default judgment.
        metrics: Metric names of the default judgment.
        models: Model ids listed by ``GET /v1/models``.

    Example:
        >>> with FakeOpenAIServer(score=2) as server:
        ...     server.base_url  # doctest: +SKIP
        'http://127.0.0.1:54321/v1'
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        responder: Responder | None = None,
        latency: float = 0.0,
        reject_json_schema: bool = False,
        score: int = 4,
        metrics: Sequence[str] = ("quality",),
        models: Sequence[str] = ("fake-judge",),
    ) -> None:
        self.responder = responder
        self.latency = latency
        self.reject_json_schema = reject_json_schema
        self.score = score
        self.metrics = tuple(metrics)
        self.models = tuple(models)
        self._queue: deque[Reply] = deque(replies)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._requests: list[dict[str, Any]] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections = 0
        self._httpd: _Server | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._closing.clear()
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._port = int(httpd.server_address[1])
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; hung requests are dropped."""
        if self._httpd is None:
            return
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the tests look at --------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (still known after ``close()``)."""
        if self._port is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """Base URL for an OpenAI client, e.g. ``http://127.0.0.1:54321/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of every chat request body received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many chat requests arrived."""
        with self._lock:
            return len(self._requests)

    @property
    def max_in_flight(self) -> int:
        """The most chat requests that were being answered at the same time."""
        with self._lock:
            return self._max_in_flight

    @property
    def connections(self) -> int:
        """How many TCP connections clients opened (keep-alive keeps this low)."""
        with self._lock:
            return self._connections

    def script(self, *replies: Reply) -> None:
        """Queue more replies."""
        with self._lock:
            self._queue.extend(replies)

    # -- used by the request handler ---------------------------------------------------------------

    def _count_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def _enter(self, request: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _wait(self, seconds: float) -> bool:
        """Sleep, waking early when the server closes; False if it did."""
        if seconds <= 0:
            return not self._closing.is_set()
        return not self._closing.wait(seconds)

    def _reply_for(self, request: dict[str, Any]) -> Reply:
        response_format = request.get("response_format") or {}
        if self.reject_json_schema and response_format.get("type") == "json_schema":
            return Reply.error(400, "response_format of type 'json_schema' is not supported", param="response_format")
        with self._lock:
            scripted = self._queue.popleft() if self._queue else None
        if scripted is not None:
            return scripted
        answer = self.responder(request) if self.responder is not None else None
        if isinstance(answer, Reply):
            return answer
        if answer is None:
            return Reply.judgment(self.score, self.metrics)
        return Reply(content=answer)
