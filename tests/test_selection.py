"""selection: --include / --exclude globs, and files that are not traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.errors import TraceError
from agenteval.models import InputError
from agenteval.selection import is_not_a_trace, matches, select_paths


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("**/*.json", "a/b/c.json", True),
        ("**/*.json", "c.json", True),
        ("agent-traces/**/*.json", "agent-traces/x/y/z.json", True),
        ("agent-traces/**/*.json", "other/x.json", False),
        ("*.json", "deep/x.json", True),  # no folder in the pattern: the file name decides
        ("sub/*.json", "sub/deep/x.json", False),  # '*' stays within one folder
        ("case-00?.json", "case-007.json", True),
        ("[ab].json", "a.json", True),
        ("[!ab].json", "a.json", False),
        ("**/fixtures/**", "x/fixtures/y/z.json", True),
    ],
)
def test_glob_matching(pattern, path, expected):
    assert matches(path, [pattern]) is expected


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("traces/a.json", "traces/deep/b.json", "traces/deep/c.jsonl", "traces/fixtures/d.json", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}", encoding="utf-8")
    return tmp_path


def test_without_globs_paths_pass_through(tree):
    assert select_paths([Path("traces"), Path("missing.json")]) == [Path("traces"), Path("missing.json")]


def test_include_globs_from_the_working_directory(tree):
    assert select_paths([], include=["traces/**/*.json"]) == [
        Path("traces/a.json"), Path("traces/deep/b.json"), Path("traces/fixtures/d.json"),
    ]
    assert select_paths([], include=["traces/**/*.json"], exclude=["**/fixtures/**"]) == [Path("traces/a.json"), Path("traces/deep/b.json")]


def test_globs_filter_the_files_under_paths(tree):
    chosen = select_paths([Path("traces"), Path("gone.json")], include=["**/*.json"], exclude=["fixtures/**"])
    assert chosen == [Path("gone.json"), Path("traces/a.json"), Path("traces/deep/b.json")]


@pytest.mark.parametrize(
    "paths, include, exclude, message",
    [
        ([], ["nothing/**/*.json"], [], "--include 'nothing/**/*.json' matches no file"),
        ([Path("traces")], [], ["**"], "leave no file to read"),
        ([], [], ["*.json"], "--exclude needs trace paths or --include globs"),
    ],
)
def test_globs_that_select_nothing_are_errors(tree, paths, include, exclude, message):
    with pytest.raises(TraceError, match=message.replace("*", r"\*").replace("(", r"\(")):
        select_paths(paths, include, exclude)


def test_not_a_trace_is_told_from_a_broken_trace():
    assert is_not_a_trace(InputError(source="package.json", message="not a trace in any known format (see `agenteval formats`)"))
    assert not is_not_a_trace(InputError(source="t.json", message="invalid JSON: Expecting value (line 1, column 1)"))
