"""The README is a promise: its set-up commands, its quickstart, and every CLI command documented."""

import os
import re
import subprocess
import sys
from pathlib import Path

import typer.main

from agenteval.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _first_code_block() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_setup_commands():
    assert README.index("```bash") < README.index("## ")
    commands = _first_code_block()
    assert commands == [
        "python -m pip install . && agenteval eval examples/traces",
        "python -m pip install '.[test]' && python -m pytest",
    ]


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    for command in _first_code_block():
        assert command in ci


def test_quickstart_command_runs_as_a_subprocess(tmp_path):
    """`agenteval eval examples/traces` from the README, run as a user would, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTEVAL_", "OPENAI_"))}
    env["COLUMNS"] = "100"
    done = subprocess.run(
        [sys.executable, "-m", "agenteval", "eval", str(ROOT / "examples" / "traces")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "judge: rules (deterministic, offline: no" in done.stdout and "judge model configured)" in done.stdout
    assert "5 traces: 2 passed, 3 failed" in done.stdout
    for line in ("│ ticket-double-charge        │ failed │ pg2 (direct), ex2 (cascade)",
                 "│ analysis-q3-revenue         │ failed │ ex2 (direct), s1 (cascade)"):
        assert line in done.stdout and line in README
    assert (tmp_path / ".agenteval" / "agenteval.duckdb").is_file()
    assert done.stderr == ""


def _commands(group: typer.Typer, prefix: str = "") -> list[tuple[str, str]]:
    click_group = typer.main.get_command(group)
    found = []

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            full = f"{path} {name}".strip()
            if getattr(sub, "commands", None):
                walk(sub, full)
            else:
                found.append((full, sub.help or ""))

    walk(click_group, prefix)
    return found


def test_every_command_has_help_and_is_in_the_readme():
    commands = _commands(app)
    assert len(commands) >= 8
    for name, help_text in commands:
        assert help_text.strip(), f"`agenteval {name}` has no help text"
        assert f"agenteval {name}" in README, f"`agenteval {name}` is not documented in README.md"
