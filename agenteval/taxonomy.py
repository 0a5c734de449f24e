"""The failure taxonomy: three levels of codes that say what kind of failure a step made.

Level 1 (Planning ``P``, Execution ``E``, Integration ``I``) > Level 2 (``E2`` Tool execution) >
Level 3 (``E2.1 tool_error``). Judges put a Level-3 code in ``Judgment.failure_code``. The taxonomy
is data (``taxonomy/taxonomy.yaml``) validated here; callers load it once and pass it around.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from agenteval._resources import data_dir
from agenteval.errors import TaxonomyError
from agenteval.models import JUDGED_TYPES, StepType

Severity = Literal["low", "medium", "high", "critical"]

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_JUDGED_NAMES = [t.value for t in JUDGED_TYPES]


def normalize_label(text: str) -> str:
    """Fold a category label for comparison: lowercase, punctuation and spacing runs to one space.

    ``"Instruction/Plan Adherence Failure"`` and ``"instruction / plan adherence failure"`` both
    become ``"instruction plan adherence failure"``.
    """
    return re.sub(r"[^0-9a-z]+", " ", text.casefold()).strip()


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def label(self) -> str:
        """Code and name, e.g. ``"E2.1 tool_error"`` or ``"E2 Tool execution"``."""
        return f"{self.code} {self.name}"  # type: ignore[attr-defined]


class FailureCode(_Node):
    """A Level-3 failure: the code a judge assigns to a failing step."""

    code: str = Field(pattern=r"^[A-Z][0-9]+\.[0-9]+$", description="Code, e.g. 'E2.1'.")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Slug, e.g. 'tool_error'.")
    definition: _Text = Field(description="What the failure is, in one or two sentences.")
    step_types: tuple[StepType, ...] = Field(min_length=1, description="Judged step types it applies to.")
    severity: Severity = Field(description="How bad the failure is: low, medium, high or critical.")
    example: _Text = Field(description="A short concrete example.")
    aliases: tuple[_Text, ...] = Field((), description="Phrases other datasets use for this failure.")

    @field_validator("step_types", mode="before")
    @classmethod
    def _judged_step_types(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            return value
        types = []
        for item in value:
            name = item.upper() if isinstance(item, str) else item
            if name not in _JUDGED_NAMES:
                raise ValueError(f"unknown step type {item!r}; expected one of {', '.join(_JUDGED_NAMES)}")
            types.append(name)
        return types


class Level2(_Node):
    """A Level-2 category, e.g. ``E2 Tool execution``."""

    code: str = Field(pattern=r"^[A-Z][0-9]+$", description="Code, e.g. 'E2'.")
    name: _Text = Field(description="Title, e.g. 'Tool execution'.")
    definition: _Text = Field(description="What the category covers.")
    failures: tuple[FailureCode, ...] = Field(min_length=1, description="Its Level-3 failure codes.")

    @model_validator(mode="after")
    def _failures_under_code(self) -> Level2:
        for failure in self.failures:
            if failure.code.rsplit(".", 1)[0] != self.code:
                raise ValueError(
                    f"code {failure.code} is listed under {self.code} but does not start with {self.code}"
                )
        return self


class Level1(_Node):
    """A Level-1 family: Planning ``P``, Execution ``E`` or Integration ``I``."""

    code: str = Field(pattern=r"^[A-Z]$", description="Code, e.g. 'E'.")
    name: _Text = Field(description="Title, e.g. 'Execution'.")
    definition: _Text = Field(description="What the family covers.")
    categories: tuple[Level2, ...] = Field(min_length=1, description="Its Level-2 categories.")

    @model_validator(mode="after")
    def _categories_under_code(self) -> Level1:
        for category in self.categories:
            if category.code[0] != self.code:
                raise ValueError(
                    f"code {category.code} is listed under {self.code} but does not start with {self.code}"
                )
        return self


class Taxonomy(BaseModel):
    """The whole failure taxonomy, with lookups by code, step type and alias."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: _Text = Field(description="Taxonomy version; bumped when a code is added, removed or redefined.")
    description: str = Field("", description="What the taxonomy classifies.")
    levels: tuple[Level1, ...] = Field(min_length=1, description="The Level-1 families.")
    unmapped: tuple[_Text, ...] = Field((), description="Outside labels known to map to no code.")

    _nodes: dict[str, Level1 | Level2 | FailureCode] = PrivateAttr(default_factory=dict)
    _ancestors: dict[str, tuple[Level1, Level2 | None]] = PrivateAttr(default_factory=dict)
    _phrases: dict[str, str] = PrivateAttr(default_factory=dict)
    _unmapped: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @model_validator(mode="after")
    def _unique(self) -> Taxonomy:
        seen: set[str] = set()
        names: set[str] = set()
        for node in self._walk():
            if node.code in seen:
                raise ValueError(f"duplicate code {node.code}")
            seen.add(node.code)
            if isinstance(node, FailureCode):
                if node.name in names:
                    raise ValueError(f"duplicate name {node.name} (code {node.code})")
                names.add(node.name)
        phrases: dict[str, str] = {}
        for failure in self.codes():
            for phrase in (failure.code, failure.name, *failure.aliases):
                key = normalize_label(phrase)
                if not key:
                    raise ValueError(f"code {failure.code}: alias {phrase!r} has no letters or digits")
                if phrases.setdefault(key, failure.code) != failure.code:
                    raise ValueError(f"alias {phrase!r} names both {phrases[key]} and {failure.code}")
        for phrase in self.unmapped:
            key = normalize_label(phrase)
            if key in phrases:
                raise ValueError(f"unmapped label {phrase!r} is also an alias of {phrases[key]}")
        return self

    def model_post_init(self, context: Any, /) -> None:
        for level1 in self.levels:
            self._nodes[level1.code] = level1
            self._ancestors[level1.code] = (level1, None)
            for level2 in level1.categories:
                self._nodes[level2.code] = level2
                self._ancestors[level2.code] = (level1, level2)
                for failure in level2.failures:
                    self._nodes[failure.code] = failure
                    self._ancestors[failure.code] = (level1, level2)
                    for phrase in (failure.code, failure.name, *failure.aliases):
                        self._phrases[normalize_label(phrase)] = failure.code
        self._unmapped = frozenset(normalize_label(p) for p in self.unmapped)

    def _walk(self) -> list[Level1 | Level2 | FailureCode]:
        nodes: list[Level1 | Level2 | FailureCode] = []
        for level1 in self.levels:
            nodes.append(level1)
            for level2 in level1.categories:
                nodes.append(level2)
                nodes.extend(level2.failures)
        return nodes

    def codes(self) -> list[FailureCode]:
        """All Level-3 failure codes, in taxonomy order."""
        return [f for level1 in self.levels for level2 in level1.categories for f in level2.failures]

    def get(self, code: str | None) -> FailureCode | None:
        """The Level-3 failure with this code (surrounding spaces ignored), or None if there is none."""
        node = self._nodes.get(code.strip()) if isinstance(code, str) else None
        return node if isinstance(node, FailureCode) else None

    def label(self, code: str) -> str:
        """``"E2.1 tool_error"`` for a Level-3 code, ``"E2 Tool execution"`` for a Level-2 one.

        An unknown code comes back unchanged, so a report can still show what a judge wrote.
        """
        node = self._nodes.get(code.strip())
        return node.label if node is not None else code

    def for_step_type(self, step_type: StepType | str) -> list[FailureCode]:
        """The Level-3 codes that apply to a step type (none for USER and SYSTEM).

        Raises:
            ValueError: ``step_type`` is not a StepType name.
        """
        wanted = StepType(step_type.upper()) if isinstance(step_type, str) else step_type
        return [f for f in self.codes() if wanted in f.step_types]

    def lookup_alias(self, text: str) -> str | None:
        """The Level-3 code that an outside label names, or None.

        ``text`` may be an alias (``"Misinterpretation of Tool Output"``), a slug (``"tool_error"``)
        or a code (``"E2.1"``); case, punctuation and spacing are ignored. Labels listed as
        ``unmapped`` (see ``is_unmapped``) and unknown labels both give None.
        """
        return self._phrases.get(normalize_label(text))

    def is_unmapped(self, text: str) -> bool:
        """Whether an outside label is known to name no failure code (e.g. ``"Inconclusive"``)."""
        return normalize_label(text) in self._unmapped

    def level1(self, code: str) -> Level1 | None:
        """The Level-1 family of a code at any level (``"E2.1"``, ``"E2"`` or ``"E"``), or None."""
        found = self._ancestors.get(code.strip())
        return found[0] if found else None

    def level2(self, code: str) -> Level2 | None:
        """The Level-2 category of a Level-2 or Level-3 code, or None (also for a Level-1 code)."""
        found = self._ancestors.get(code.strip())
        return found[1] if found else None


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file; by default the bundled ``taxonomy/taxonomy.yaml``.

    Raises:
        TaxonomyError: the file is missing, is not valid YAML, or does not describe a valid
            taxonomy; the one-line message names the file and the first problem.
    """
    path = Path(path) if path is not None else data_dir("taxonomy") / "taxonomy.yaml"
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaxonomyError("no such file", source=source) from None
    except UnicodeDecodeError:
        raise TaxonomyError("not UTF-8 text", source=source) from None
    except OSError as e:
        raise TaxonomyError(f"cannot read: {e.strerror or e}", source=source) from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise TaxonomyError(_yaml_problem(e), source=source) from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise TaxonomyError(f"expected a mapping with version and levels, got {got}", source=source)
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as e:
        raise TaxonomyError(_validation_problem(e, data), source=source) from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"invalid YAML at line {mark.line + 1}: {problem}" if mark else f"invalid YAML: {problem}"


def _validation_problem(error: ValidationError, data: Any) -> str:
    first = error.errors()[0]
    message = " ".join(str(first["msg"]).removeprefix("Value error, ").split())
    where = _location(data, first["loc"])
    more = error.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {message}{suffix}" if where else f"{message}{suffix}"


def _location(data: Any, loc: tuple[int | str, ...]) -> str:
    # Name list items by their code ("levels[E].categories[E2]") when they have one: a reader finds
    # a code in the file faster than a position.
    where = ""
    node = data
    for key in loc:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(key, int):
            code = node.get("code") if isinstance(node, dict) else None
            where += f"[{code}]" if isinstance(code, str) else f"[{key}]"
        else:
            where += f".{key}" if where else str(key)
    return where
