"""Zip archives (Inspect .eval logs) are size-capped before and while they are inflated."""

from __future__ import annotations

import json
import shutil
import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.errors import TraceError
from agenteval.formats import _archive
from agenteval.formats._archive import MAX_MEMBER_BYTES, read_members
from agenteval.formats.base import load_document

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"


def _bomb(path: Path, inflated: int, name: str = "samples/1_epoch_1.json") -> Path:
    """A small zip whose one member inflates to ``inflated`` bytes of JSON-ish filler, written in chunks."""
    chunk = b" " * (1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("header.json", json.dumps({"eval": {"task": "bomb"}, "version": 2}))
        with archive.open(name, "w", force_zip64=True) as member:
            member.write(b"[")
            written = 1
            while written < inflated - 1:
                piece = chunk[: min(len(chunk), inflated - 1 - written)]
                member.write(piece)
                written += len(piece)
            member.write(b"]")
    return path


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    bomb = _bomb(tmp_path / "bomb.eval", MAX_MEMBER_BYTES + 1024 * 1024)
    assert bomb.stat().st_size < 2 * 1024 * 1024  # small on disk, huge inflated
    tracemalloc.start()
    try:
        with pytest.raises(TraceError) as caught:
            load_document(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "\n" not in message
    assert str(bomb) in message and "'samples/1_epoch_1.json'" in message
    assert "would inflate to 257 MiB, over the limit of 256 MiB per member: not read" in message
    assert peak < 16 * 1024 * 1024  # nothing of the member was inflated


def test_the_cli_reports_the_bomb_in_one_line_and_evaluates_the_rest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "traces"
    folder.mkdir()
    _bomb(folder / "bomb.eval", MAX_MEMBER_BYTES + 1024 * 1024)
    shutil.copy(EXAMPLES / "refund.json", folder / "refund.json")
    result = CliRunner().invoke(app, ["eval", str(folder), "--db", "x.duckdb", "--json"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "bomb.eval" in errors[0] and "samples/1_epoch_1.json" in errors[0]
    assert [t["trace_id"] for t in json.loads(result.stdout)["traces"]] == ["refund-ORD-48213"]


def test_members_together_are_capped(tmp_path):
    path = tmp_path / "many.eval"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for n in range(4):
            archive.writestr(f"samples/{n}.json", json.dumps(["x" * 400]))
    names = [name for name, _ in read_members(path, "many.eval", max_member=1000, max_total=5000)]
    assert names == [f"samples/{n}.json" for n in range(4)]
    with pytest.raises(TraceError, match=r"'samples/2.json' would inflate to .* limit of 0 MiB for the whole archive"):
        list(read_members(path, "many.eval", max_member=1000, max_total=1000))


def test_a_header_that_lies_about_the_size_never_inflates_more(tmp_path):
    honest = tmp_path / "honest.eval"
    with zipfile.ZipFile(honest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("samples/1.json", b"[" + b" " * (8 * 1024 * 1024) + b"]")
    data = bytearray(honest.read_bytes())
    # The central directory says the member inflates to 100 bytes; it inflates to 8 MiB.
    central = data.rfind(b"PK\x01\x02")
    assert struct.unpack_from("<I", data, central + 24)[0] == 8 * 1024 * 1024 + 2
    struct.pack_into("<I", data, central + 24, 100)
    liar = tmp_path / "liar.eval"
    liar.write_bytes(bytes(data))
    with pytest.raises(TraceError) as caught:
        list(read_members(liar, "liar.eval"))
    assert "\n" not in str(caught.value) and "liar.eval" in str(caught.value)


def test_bytes_are_counted_while_streaming(tmp_path):
    # Whatever the header says, reading stops once the inflated bytes pass the cap.
    path = _bomb(tmp_path / "b.eval", 3 * 1024 * 1024)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("samples/1_epoch_1.json")
        assert _archive._read_capped(archive, info, 2 * 1024 * 1024) is None
        assert len(_archive._read_capped(archive, info, 4 * 1024 * 1024)) == 3 * 1024 * 1024
