"""The DuckDB schema of the store, as plain SQL strings and column lists (no ``duckdb`` import).

``agenteval.store`` applies ``MIGRATIONS`` in order on open and records each name in
``schema_migrations``; migrations are named and forward-only, so a new one is appended, never edited.
The column tuples name the flat tables' columns in the order ``Store.add_result`` writes them.
"""

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "m001_initial",
        """
        CREATE SEQUENCE row_seq;
        CREATE TABLE runs (
            id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
            judge VARCHAR NOT NULL, config JSON NOT NULL, git_commit VARCHAR, version VARCHAR NOT NULL,
            seq BIGINT NOT NULL DEFAULT nextval('row_seq'));
        CREATE TABLE traces (
            run_id VARCHAR NOT NULL, trace_id VARCHAR NOT NULL, source VARCHAR, format VARCHAR,
            status VARCHAR NOT NULL, judge VARCHAR NOT NULL, result JSON NOT NULL,
            seq BIGINT NOT NULL DEFAULT nextval('row_seq'));
        CREATE TABLE steps (
            run_id VARCHAR NOT NULL, trace_id VARCHAR NOT NULL, step_id VARCHAR NOT NULL,
            position INTEGER NOT NULL, type VARCHAR NOT NULL, parents VARCHAR[] NOT NULL, agent VARCHAR,
            tool VARCHAR, status VARCHAR NOT NULL, model VARCHAR, input_tokens BIGINT, output_tokens BIGINT);
        CREATE TABLE judgments (
            run_id VARCHAR NOT NULL, trace_id VARCHAR NOT NULL, step_id VARCHAR NOT NULL,
            judge VARCHAR NOT NULL, score DOUBLE, assessed BOOLEAN NOT NULL, reason VARCHAR,
            failure_code VARCHAR, error VARCHAR, rubric_version VARCHAR, model VARCHAR,
            input_tokens BIGINT, output_tokens BIGINT, cost_usd DOUBLE, cached BOOLEAN NOT NULL,
            decisive BOOLEAN NOT NULL);
        CREATE TABLE verdicts (
            run_id VARCHAR NOT NULL, trace_id VARCHAR NOT NULL, step_id VARCHAR NOT NULL,
            type VARCHAR NOT NULL, verdict VARCHAR NOT NULL, score DOUBLE, threshold DOUBLE,
            failure_code VARCHAR, upstream_failures VARCHAR[] NOT NULL);
        CREATE TABLE root_causes (
            run_id VARCHAR NOT NULL, trace_id VARCHAR NOT NULL, step_id VARCHAR NOT NULL,
            algorithm VARCHAR NOT NULL, chain VARCHAR[] NOT NULL, failure_code VARCHAR, agent VARCHAR);
        CREATE TABLE input_errors (
            run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, message VARCHAR NOT NULL,
            seq BIGINT NOT NULL DEFAULT nextval('row_seq'));
        CREATE TABLE judge_cache (
            key VARCHAR PRIMARY KEY, judgment JSON NOT NULL, created_at TIMESTAMP NOT NULL);
        """,
    ),
    # A failed tool call the agent retried successfully: shown and queried, not only in the result JSON.
    ("m002_verdict_recovered", "ALTER TABLE verdicts ADD COLUMN recovered BOOLEAN NOT NULL DEFAULT false;"),
)

#: Columns of the flat tables, in the order their rows are built.
STEP_COLUMNS = ("run_id", "trace_id", "step_id", "position", "type", "parents", "agent", "tool", "status",
                "model", "input_tokens", "output_tokens")
JUDGMENT_COLUMNS = ("run_id", "trace_id", "step_id", "judge", "score", "assessed", "reason", "failure_code",
                    "error", "rubric_version", "model", "input_tokens", "output_tokens", "cost_usd", "cached",
                    "decisive")
VERDICT_COLUMNS = ("run_id", "trace_id", "step_id", "type", "verdict", "score", "threshold", "failure_code",
                   "upstream_failures", "recovered")
ROOT_CAUSE_COLUMNS = ("run_id", "trace_id", "step_id", "algorithm", "chain", "failure_code", "agent")
