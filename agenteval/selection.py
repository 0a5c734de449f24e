"""Which files a run reads: ``--include`` / ``--exclude`` globs, and files that are not traces at all.

CI jobs point agenteval at a folder that holds more than traces (a ``package.json``, a coverage
report). ``select_paths`` narrows the inputs with globs (``**`` matches any number of folders), and
``is_not_a_trace`` tells a file that is no trace in any format (skipped with a warning, an error only
with ``strict``) from a trace file that is broken (always an error).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from agenteval.errors import TraceError
from agenteval.formats import ParsedFile, expand_paths
from agenteval.identity import UniqueIds
from agenteval.models import InputError, Trace

#: How the format detector words a file that matches no trace format (``formats.parse_document``).
NOT_A_TRACE = "not a trace in any known format"


def is_not_a_trace(error: InputError) -> bool:
    """Whether an input error says the file holds valid JSON that is no trace in any known format."""
    return error.message.startswith(NOT_A_TRACE)


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex over POSIX paths: ``**/`` any folders (or none), ``*`` and ``?`` within one
    name, ``[...]`` a character class."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and pattern.find("]", i + 2) > 0:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether a POSIX path matches one of the globs (a pattern without a folder matches the file name)."""
    name = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        regex = glob_regex(pattern.replace("\\", "/").removeprefix("./"))
        if regex.match(path) or ("/" not in pattern and regex.match(name)):
            return True
    return False


def _candidates(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Each file with the path the globs see: relative to the folder it was found in, or as given."""
    out: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found, _ = expand_paths([path])
            out += [(f, f.relative_to(path).as_posix()) for f in found]
        else:
            out.append((path, path.as_posix().removeprefix("./")))
    return out


def select_paths(paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Path]:
    """The inputs a run reads.

    Without globs the paths come back as given. With ``include`` and no paths, the globs are expanded
    from the working directory (``agent-traces/**/*.json``); with paths, files under them are kept
    when they match an include glob and no exclude glob. Paths that do not exist are passed through
    so the reader reports them.

    Raises:
        TraceError: an include glob matches no file, or the globs leave nothing to read.
    """
    if not include and not exclude:
        return list(paths)
    if not paths:
        if not include:
            raise TraceError("--exclude needs trace paths or --include globs to filter")
        found: list[Path] = []
        for pattern in include:
            hits = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not hits:
                raise TraceError(f"--include '{pattern}' matches no file (from {Path.cwd()})")
            found += hits
        chosen = [p for p in dict.fromkeys(found) if not matches(p.as_posix(), exclude)]
    else:
        missing = [p for p in paths if not p.exists()]
        chosen = missing + [
            file for file, shown in _candidates([p for p in paths if p.exists()])
            if (not include or matches(shown, include)) and not matches(shown, exclude)
        ]
    if not chosen:
        raise TraceError("the --include / --exclude globs leave no file to read")
    return chosen


@dataclass
class Screened:
    """The traces a run judges, the inputs it reports as errors, and the warnings it prints."""

    jobs: list[tuple[ParsedFile, Trace]] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0

    def nothing_to_evaluate(self) -> str:
        """Why there is nothing to judge, for the error that replaces an empty run."""
        why = [f"{len(self.errors)} input(s) could not be read"] if self.errors else []
        why += [f"{self.skipped} file(s) are not traces"] if self.skipped else []
        return "no traces to evaluate" + (f": {', '.join(why)}" if why else "")


def screen_inputs(parsed: Iterable[ParsedFile], errors: Iterable[InputError], *, strict: bool = False) -> Screened:
    """Skip files that are not traces (unless ``strict``) and give repeated trace ids unique ones.

    Each skipped file is a warning; so is the number of traces renamed (see ``identity.UniqueIds``).
    """
    out = Screened()
    for error in errors:
        if not strict and is_not_a_trace(error):
            out.skipped += 1
            out.warnings.append(f"skipped {error.source}: {error.message} (--strict makes this an error)")
        else:
            out.errors.append(error)
    ids = UniqueIds()
    out.jobs = [(file, ids.claim(trace, str(file.path))) for file in parsed for trace in file.traces]
    if ids.renamed:
        out.warnings.append(
            f"{ids.renamed} trace(s) repeated an id already read in this run: kept, renamed <id>@<file>"
        )
    return out
