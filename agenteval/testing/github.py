"""A fake GitHub REST API on 127.0.0.1 for the sticky-comment tests (stdlib only).

It serves the three calls ``agenteval.github`` makes (list an issue's comments, page by page; create
one; update one), checks the bearer token, and keeps the comments in memory so a test can see what a
pull request would show.

Example:
    >>> with FakeGitHubAPI(token="t") as api:  # doctest: +SKIP
    ...     env = {"GITHUB_API_URL": api.url, "GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "o/r"}
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

_LIST = re.compile(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments")
_ONE = re.compile(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)")


@dataclass
class FakeGitHubAPI:
    """Comments per (repo, issue number) and every request seen, served over real HTTP."""

    token: str = "test-token"
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _next_id: int = 1000

    def add_comment(self, repo: str, issue: int, body: str, *, user: str = "someone", bot: bool = False) -> dict[str, Any]:
        """Seed a comment (a person's, or a bot's)."""
        self._next_id += 1
        comment = {
            "id": self._next_id, "body": body, "user": {"login": user, "type": "Bot" if bot else "User"},
            "html_url": f"https://github.example/{repo}/pull/{issue}#issuecomment-{self._next_id}",
        }
        self.comments.setdefault((repo, issue), []).append(comment)
        return comment

    def __enter__(self) -> FakeGitHubAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                api.requests.append((method, url.path))
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._send(401, {"message": "Bad credentials"})
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"null") if length else None
                listing, one = _LIST.fullmatch(url.path), _ONE.fullmatch(url.path)
                if listing and method == "GET":
                    query = parse_qs(url.query)
                    per_page, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
                    items = api.comments.get((listing.group(1), int(listing.group(2))), [])
                    return self._send(200, items[(page - 1) * per_page : page * per_page])
                if listing and method == "POST":
                    made = api.add_comment(listing.group(1), int(listing.group(2)), payload["body"], user="github-actions[bot]", bot=True)
                    return self._send(201, made)
                if one and method == "PATCH":
                    for items in api.comments.values():
                        for comment in items:
                            if comment["id"] == int(one.group(2)):
                                comment["body"] = payload["body"]
                                return self._send(200, comment)
                    return self._send(404, {"message": "Not Found"})
                return self._send(404, {"message": "Not Found"})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._handle("PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        """Base URL to use as GITHUB_API_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"
