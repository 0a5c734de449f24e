"""The sticky pull-request comment against a fake GitHub API on 127.0.0.1 (real HTTP, real urllib)."""

from __future__ import annotations

import json

import pytest

from agenteval.errors import ConfigError
from agenteval.github import MAX_BODY, comment_body, post_sticky_comment
from agenteval.testing import FakeGitHubAPI

REPO = "acme/agent"


def env(api: FakeGitHubAPI, **extra) -> dict[str, str]:
    return {"GITHUB_TOKEN": api.token, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": api.url, **extra}


def test_created_once_then_updated_in_place(tmp_path):
    report = tmp_path / "report.md"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 3}}), encoding="utf-8")
    with FakeGitHubAPI() as api:
        for n in range(105):  # more than one page of other comments
            api.add_comment(REPO, 3, f"comment {n}")
        api.add_comment(REPO, 3, "<!-- agenteval-gate -->\na person quoting the marker")
        report.write_text("## first", encoding="utf-8")
        made = post_sticky_comment(report, environ=env(api, GITHUB_EVENT_PATH=str(event)))
        report.write_text("## second", encoding="utf-8")
        again = post_sticky_comment(report, environ=env(api, GITHUB_EVENT_PATH=str(event)))
        ours = [c for c in api.comments[(REPO, 3)] if c["user"]["type"] == "Bot"]
    assert (made.action, again.action, made.id) == ("created", "updated", again.id)
    assert len(ours) == 1 and ours[0]["body"] == "<!-- agenteval-gate -->\n## second"
    assert api.comments[(REPO, 3)][105]["body"].endswith("a person quoting the marker")


def test_markers_keep_comments_apart(tmp_path):
    report = tmp_path / "r.md"
    report.write_text("x", encoding="utf-8")
    with FakeGitHubAPI() as api:
        post_sticky_comment(report, pr=4, marker="agenteval-gate-linux", environ=env(api))
        post_sticky_comment(report, pr=4, marker="agenteval-gate-macos", environ=env(api))
        assert len(api.comments[(REPO, 4)]) == 2


def test_a_long_report_is_cut_to_fit():
    body = comment_body("x" * 100_000, "m")
    assert len(body) <= MAX_BODY and body.endswith("the full report is in the job summary and the artifact.\n")


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GITHUB_REPOSITORY": REPO}, "GITHUB_TOKEN is not set"),
        ({"GITHUB_TOKEN": "t"}, "GITHUB_REPOSITORY is not set"),
        ({"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": REPO}, "GITHUB_EVENT_PATH is not set (give --pr)"),
    ],
)
def test_missing_variables(tmp_path, environ, message):
    report = tmp_path / "r.md"
    report.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        post_sticky_comment(report, environ=environ)


def test_a_refused_token_says_why(tmp_path):
    report = tmp_path / "r.md"
    report.write_text("x", encoding="utf-8")
    with FakeGitHubAPI(token="right") as api:
        with pytest.raises(ConfigError, match=r"HTTP 401 Bad credentials \(a pull request from a fork gets a read-only token\)"):
            post_sticky_comment(report, pr=1, environ={**env(api), "GITHUB_TOKEN": "wrong"})
