"""The sticky pull-request comment: one comment per marker, created once and updated on every push.

GitHub's REST API through the standard library (``urllib``), with the variables GitHub Actions sets:
``GITHUB_TOKEN``, ``GITHUB_REPOSITORY``, ``GITHUB_API_URL`` and ``GITHUB_EVENT_PATH``. The comment to
update is found by a hidden HTML marker in its body, among comments written by a bot (what the
Actions token writes as), so a person's comment quoting the marker is never overwritten. Report text
is escaped by the Markdown renderer, so a trace cannot forge the marker either.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agenteval.errors import ConfigError

#: GitHub rejects comments over 65,536 characters; the rest is cut with a note.
MAX_BODY = 65_000
_PAGE = 100
_MAX_PAGES = 50


@dataclass(frozen=True)
class Posted:
    """What ``post_sticky_comment`` did."""

    action: str
    """'created' or 'updated'."""
    id: int
    url: str


def marker_line(marker: str) -> str:
    """The hidden line that identifies the sticky comment."""
    return f"<!-- {marker} -->"


def comment_body(markdown: str, marker: str) -> str:
    """The comment: the marker, then the report, cut to fit GitHub's limit."""
    head = marker_line(marker) + "\n"
    room = MAX_BODY - len(head)
    if len(markdown) > room:
        note = "\n\n…report cut to fit a comment; the full report is in the job summary and the artifact.\n"
        markdown = markdown[: room - len(note)] + note
    return head + markdown


def _pull_request(environ: Mapping[str, str]) -> int:
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        raise ConfigError("no pull request: GITHUB_EVENT_PATH is not set (give --pr)")
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event: {exc}", source=path) from None
    number = (event.get("pull_request") or {}).get("number")
    if number is None and isinstance(event.get("issue"), dict) and event["issue"].get("pull_request"):
        number = event["issue"].get("number")
    if not isinstance(number, int):
        raise ConfigError("not a pull request event (give --pr)", source=path)
    return number


class _Api:
    def __init__(self, base: str, token: str, timeout: float) -> None:
        self.base, self.token, self.timeout = base.rstrip("/"), token, timeout

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={
                "Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "agenteval",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (https or a test's 127.0.0.1)
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            try:
                detail = json.loads(detail).get("message", detail)
            except (ValueError, AttributeError):
                pass
            hint = " (a pull request from a fork gets a read-only token)" if exc.code in (401, 403, 404) else ""
            raise ConfigError(f"GitHub API {method} {path}: HTTP {exc.code} {detail}{hint}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ConfigError(f"GitHub API {method} {path}: {getattr(exc, 'reason', exc)}") from None


def _find(api: _Api, repo: str, pr: int, marker: str) -> dict[str, Any] | None:
    line = marker_line(marker)
    for page in range(1, _MAX_PAGES + 1):
        comments = api.call("GET", f"/repos/{repo}/issues/{pr}/comments?per_page={_PAGE}&page={page}")
        if not isinstance(comments, list):
            raise ConfigError(f"GitHub API GET /repos/{repo}/issues/{pr}/comments: expected a list")
        for comment in comments:
            user = comment.get("user") or {}
            if user.get("type") == "Bot" and str(comment.get("body", "")).startswith(line):
                return comment
        if len(comments) < _PAGE:
            return None
    return None


def post_sticky_comment(
    file: Path,
    *,
    pr: int | None = None,
    marker: str = "agenteval-gate",
    environ: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Posted:
    """Create the pull request's comment holding ``file``, or update it when it exists.

    Raises:
        ConfigError: a variable is missing, the file cannot be read, or the API refused (the message
            says which call and why).
    """
    environ = os.environ if environ is None else environ
    token, repo = environ.get("GITHUB_TOKEN"), environ.get("GITHUB_REPOSITORY")
    if not token:
        raise ConfigError("GITHUB_TOKEN is not set (pass the job's token to the step)")
    if not repo:
        raise ConfigError("GITHUB_REPOSITORY is not set")
    try:
        markdown = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(file)) from None
    number = pr if pr is not None else _pull_request(environ)
    api = _Api(environ.get("GITHUB_API_URL") or "https://api.github.com", token, timeout)
    body = comment_body(markdown, marker)
    existing = _find(api, repo, number, marker)
    if existing is not None:
        done = api.call("PATCH", f"/repos/{repo}/issues/comments/{existing['id']}", {"body": body})
        return Posted("updated", int(done["id"]), str(done.get("html_url", "")))
    done = api.call("POST", f"/repos/{repo}/issues/{number}/comments", {"body": body})
    return Posted("created", int(done["id"]), str(done.get("html_url", "")))
