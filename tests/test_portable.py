"""Portable runs: JSON Lines export/import (agenteval.portable) and the Parquet twin in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agenteval.errors import StoreError
from agenteval.models import InputError
from agenteval.portable import PORTABLE_FORMAT, PORTABLE_VERSION, read_jsonl, run_from_records, write_jsonl
from agenteval.store import open_store, read_run_file, write_run_file
from test_compare import broken, ok, run


@pytest.fixture
def sample():
    stored = run(ok("a"), broken("b"), name="baseline")
    stored.config = {"root_cause": "greedy"}
    stored.input_errors.append(InputError(source="x.json", message="invalid JSON"))
    return stored


def test_jsonl_round_trip_keeps_everything(tmp_path, sample):
    path = tmp_path / "base.jsonl"
    write_jsonl(sample, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    header = json.loads(lines[0])
    assert (header["format"], header["version"], header["run"]["name"]) == (PORTABLE_FORMAT, PORTABLE_VERSION, "baseline")
    assert "results" not in header["run"]
    assert json.loads(lines[1])["trace"]["id"] == "a"
    assert read_jsonl(path) == sample


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_run_files_round_trip_by_suffix(tmp_path, sample, suffix):
    path = tmp_path / f"base{suffix}"
    write_run_file(sample, path)
    assert read_run_file(path) == sample


def test_parquet_export_is_queryable(tmp_path, sample):
    import duckdb

    path = tmp_path / "base.parquet"
    write_run_file(sample, path)
    rows = duckdb.connect().execute(f"SELECT kind, trace_id, status FROM '{path}' ORDER BY line").fetchall()
    assert rows == [("run", None, None), ("result", "a", "passed"), ("result", "b", "failed")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty file: expected an agenteval run export"),
        ('{"id": "refund", "steps": []}\n', "line 1: not an agenteval run export (no 'agenteval-run' header)"),
        ("not json\n", "line 1: not an agenteval run export"),
        ('{"format": "agenteval-run", "version": "9", "run": {}}\n', "line 1: export format version '9' is not supported"),
        ('{"format": "agenteval-run", "version": "1", "run": {"id": "x"}}\n', "line 1: invalid run header: name: Field required"),
    ],
)
def test_bad_header_is_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(StoreError) as info:
        read_jsonl(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_bad_result_line_names_the_line(tmp_path, sample):
    path = tmp_path / "base.jsonl"
    write_jsonl(sample, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], lines[1], "{oops", lines[2]]) + "\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"base.jsonl: line 3: invalid JSON: Expecting property name"):
        read_jsonl(path)
    path.write_text("\n".join([lines[0], '{"trace": 1}']) + "\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"line 2: not a trace result: "):
        read_jsonl(path)


@pytest.mark.parametrize("name", ["missing.jsonl", "missing.parquet"])
def test_missing_file(tmp_path, name):
    with pytest.raises(StoreError, match=f"{name}: no such file"):
        read_run_file(tmp_path / name)


def test_a_file_that_is_not_parquet(tmp_path):
    path = tmp_path / "base.parquet"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(StoreError, match="base.parquet: not an agenteval run export: "):
        read_run_file(path)


def test_records_from_any_numbered_source():
    sample = run(ok("a"))
    from agenteval.portable import run_records

    assert run_from_records(enumerate(run_records(sample), start=1), "mem") == sample


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_store_export_then_import_into_another_store(tmp_path, sample, suffix):
    path = tmp_path / f"base{suffix}"
    with open_store(tmp_path / "a.duckdb") as store:
        store.start_run(sample)
        for result in sample.results:
            store.add_result(sample.id, result)
        for error in sample.input_errors:
            store.add_input_error(sample.id, error)
        stored = store.load_run("baseline")
        assert store.export_run("baseline", path) == stored
    with open_store(tmp_path / "b.duckdb") as other:
        assert other.import_run(path) == stored
        assert other.load_run("baseline") == stored
        with pytest.raises(StoreError, match=f"run {sample.id} \\(baseline\\) is already stored"):
            other.import_run(path)


def test_export_of_an_unknown_run(tmp_path):
    with open_store(tmp_path / "a.duckdb") as store, pytest.raises(StoreError, match="no runs stored yet"):
        store.export_run(None, tmp_path / "x.jsonl")


def test_unwritable_destination(tmp_path, sample):
    with pytest.raises(StoreError, match="cannot write"):
        write_jsonl(sample, tmp_path / "missing-dir" / "x.jsonl")
    with pytest.raises(StoreError, match="cannot write Parquet"):
        write_run_file(sample, Path(tmp_path / "missing-dir" / "x.parquet"))
