"""The house rules of ../shared/design/architecture.md, checked on the source: dependencies point one
way, and each outside I/O library is imported in one place."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "agenteval"

#: Layer of each module (by dotted prefix); a module may import its own layer or lower ones.
LAYERS = [
    ("errors",),
    ("models", "_resources", "policy"),
    ("secret_rules",),
    ("dag", "recovery", "rubrics", "taxonomy", "config", "secrets", "mapping"),
    ("formats", "judges", "propagation", "attribution", "compare", "gate", "metrics", "calibrate", "datasets", "testing",
     "stats", "cases", "identity", "pairing", "significance", "selection", "changes"),
    ("evaluate", "store", "_schema", "reports", "benchmark", "gating", "portable", "github"),
    ("cli", "__main__", "__init__"),
]
#: Outside libraries that may be imported only by these modules.
OWNERS = {
    "openai": ("judges.llm",),
    "duckdb": ("store",),
    "networkx": ("dag",),
    "typer": ("cli",),
    "re2": ("judges._regex", "secret_rules"),
    "rich": ("cli", "reports.terminal", "reports.terminal_compare", "reports.terminal_text", "reports.terminal_trace", "reports.bench_table", "reports.taxonomy_tree",
             "reports.settings_table"),
}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        yield name.removesuffix(".__init__") or "__init__", ast.parse(path.read_text(encoding="utf-8"))


def layer(module: str) -> int:
    top = module.split(".")[0]
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"agenteval.{module} is in no layer of this test: add it")


def imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


@pytest.mark.parametrize("module, tree", list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_dependencies_point_one_way(module, tree):
    mine = layer(module)
    for name in imports(tree):
        if name.startswith("agenteval.") and module != "__init__":
            target = name.removeprefix("agenteval.")
            assert layer(target) <= mine, f"agenteval.{module} (layer {mine}) imports {name} (layer {layer(target)})"
            assert not target.startswith("cli") or module.startswith(("cli", "__main__")), f"{module} imports the CLI"


@pytest.mark.parametrize("library, owners", OWNERS.items())
def test_each_outside_library_lives_in_its_module(library, owners):
    users = {m for m, tree in modules() if any(n == library or n.startswith(library + ".") for n in imports(tree))}
    assert users and all(any(u == o or u.startswith(o + ".") for o in owners) for u in users), users
