"""Print the failure taxonomy as a tree in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from agenteval.taxonomy import FailureCode, Taxonomy


def render_taxonomy(taxonomy: Taxonomy, console: Console) -> None:
    """Print ``taxonomy`` to ``console`` as Level 1 > Level 2 > Level-3 codes.

    Each Level-3 line reads ``E2.1 tool_error — <definition> [EXEC]``.
    """
    tree = Tree(Text(f"Failure taxonomy (version {taxonomy.version})", style="bold"))
    for level1 in taxonomy.levels:
        branch1 = tree.add(Text.assemble((level1.code, "bold"), " ", (level1.name, "bold")))
        for level2 in level1.categories:
            branch2 = branch1.add(Text.assemble((level2.code, "bold"), " ", level2.name))
            for failure in level2.failures:
                branch2.add(_failure_line(failure))
    console.print(tree)


def _failure_line(failure: FailureCode) -> Text:
    # Text, not markup: "[EXEC]" would otherwise be read as a style tag.
    types = ", ".join(t.value for t in failure.step_types)
    return Text.assemble(
        (failure.code, "bold"),
        " ",
        (failure.name, "cyan"),
        " — ",
        failure.definition,
        " ",
        (f"[{types}]", "dim"),
    )
