"""Secret masking: credential shapes, credential-named keys, extra patterns, trace copies."""

from __future__ import annotations

import pytest

from agenteval.errors import ConfigError
from agenteval.models import ErrorInfo, Step, Trace
from agenteval.secrets import MASK, SecretMasker, is_secret_key, mask_secrets, mask_trace

# Fake credentials, assembled at run time so secret scanners do not flag this file.
A20 = "aB3dE5gH7jK9mN1pQ2rS"
FAKES = {
    "openai": "sk-" + A20 + "tU4vW6xY8z",
    "openai_project": "sk-proj-" + A20 + "_-tU4vW6xY8z" + A20,
    "anthropic": "sk-ant-api03-" + A20 + A20,
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "github": "ghp_" + A20 + "0123456789abcdef",
    "github_pat": "github_pat_" + "11ABCDEFG0" + A20 + "_" + A20,
    "slack": "xoxb-" + "1234567890-0987654321-" + A20,
    "google": "AIza" + "SyA-" + A20 + "0123456789a",
    "stripe": "sk_live_" + A20 + "1234",
    "stripe_restricted": "rk_live_" + A20,
    "jwt": "eyJhbGciOiJIUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA7V1" + A20 + "\n" + A20 + "Qk9\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize("kind", sorted(FAKES))
def test_each_credential_shape_is_masked(kind):
    secret = FAKES[kind]
    masked = mask_secrets(f"config: use {secret} for the call.")
    assert masked == f"config: use {MASK} for the call."


def test_pem_private_key_block_is_masked():
    masked = mask_secrets(f"key file:\n{PEM}\nend of file")
    assert masked == f"key file:\n{MASK}\nend of file"
    # A public certificate is not a secret.
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert mask_secrets(cert) == cert


def test_bearer_token_keeps_the_scheme():
    header = "Authorization: Bearer abc123.def456-ghi789"
    assert mask_secrets(header) == f"Authorization: Bearer {MASK}"
    assert mask_secrets("use bearer " + FAKES["jwt"]) == f"use bearer {MASK}"
    # Prose about bearer authentication is left alone.
    assert mask_secrets("Bearer authentication is required") == "Bearer authentication is required"


def test_ordinary_text_is_untouched():
    text = "The task: book flight sk-1 from AKIA airport; tokens used: 1234; see ghp docs."
    assert mask_secrets(text) == text


def test_nested_structures_are_copied_and_masked():
    data = {
        "messages": [
            {"role": "user", "content": f"my key is {FAKES['openai']}"},
            {"role": "tool", "content": ["ok", ("tuple", FAKES["aws"])]},
        ],
        "count": 3,
        "flag": True,
        "nothing": None,
    }
    masked = mask_secrets(data)
    assert masked == {
        "messages": [
            {"role": "user", "content": f"my key is {MASK}"},
            {"role": "tool", "content": ["ok", ("tuple", MASK)]},
        ],
        "count": 3,
        "flag": True,
        "nothing": None,
    }
    assert data["messages"][0]["content"].endswith(FAKES["openai"])


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db_password",
        "PASSWD",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refreshToken",
        "api_key",
        "apiKey",
        "apikey",
        "x-api-key",
        "Authorization",
        "Proxy-Authorization",
        "access_key",
        "AWS_SECRET_ACCESS_KEY",
        "private_key",
        "privateKey",
    ],
)
def test_values_under_secret_keys_are_masked(key):
    assert is_secret_key(key)
    assert mask_secrets({key: "hunter2", "user": "ana"}) == {key: MASK, "user": "ana"}
    assert mask_secrets({"headers": {key: 12345}}) == {"headers": {key: MASK}}


@pytest.mark.parametrize(
    "key", ["max_tokens", "input_tokens", "token_count", "tokenizer", "user", "keyword", "secretary", "monkey"]
)
def test_ordinary_keys_are_not_masked(key):
    assert not is_secret_key(key)
    assert mask_secrets({key: "plain value"}) == {key: "plain value"}


def test_secret_key_edge_values():
    data = {"Authorization": "Basic dXNlcjpwYXNz", "token": None, "password": "", "secret": {"nested": "x"}}
    assert mask_secrets(data) == {"Authorization": f"Basic {MASK}", "token": None, "password": "", "secret": MASK}


def test_extra_patterns():
    text = "employee EMP-00123 called ACME-INTERNAL-42"
    assert mask_secrets(text, [r"EMP-\d+", r"ACME-INTERNAL-\d+"]) == f"employee {MASK} called {MASK}"
    assert mask_secrets(text, r"EMP-\d+") == f"employee {MASK} called ACME-INTERNAL-42"


def test_invalid_extra_pattern_names_the_pattern():
    with pytest.raises(ConfigError, match=r"invalid secret pattern '\(unclosed'"):
        mask_secrets("x", ["ok", "(unclosed"])
    with pytest.raises(ConfigError, match="invalid secret pattern"):
        SecretMasker(["[z-a]"])


def _trace() -> Trace:
    return Trace(
        id="t1",
        task=f"Call the API with key {FAKES['openai']}",
        expected_outcome=f"uses {FAKES['github']}",
        metadata={"env": {"OPENAI_API_KEY": "abc", "region": "eu"}},
        steps=[
            Step(id="p", type="PLAN", output="plan", input={"messages": [f"token {FAKES['slack']}"]}),
            Step(
                id="a",
                type="PARAMGEN",
                parents=["p"],
                tool="http_get",
                arguments={"url": "https://api.example.com", "headers": {"Authorization": "Bearer abc123xyz789"}},
                metadata={"password": "pw"},
            ),
            Step(
                id="e",
                type="EXEC",
                parents=["a"],
                tool="http_get",
                status="error",
                error=ErrorInfo(type="HTTPError", message=f"401 for key {FAKES['stripe']}"),
                output={"body": f"echo {FAKES['jwt']}"},
            ),
        ],
    )


def test_mask_trace_masks_a_copy():
    trace = _trace()
    before = trace.model_dump()
    masked = mask_trace(trace, extra_patterns=[r"api\.example\.com"])
    assert trace.model_dump() == before
    assert masked.task == f"Call the API with key {MASK}"
    assert masked.expected_outcome == f"uses {MASK}"
    assert masked.metadata == {"env": {"OPENAI_API_KEY": MASK, "region": "eu"}}
    plan, args, run = masked.steps
    assert plan.input == {"messages": [f"token {MASK}"]}
    assert args.arguments == {"url": f"https://{MASK}", "headers": {"Authorization": f"Bearer {MASK}"}}
    assert args.metadata == {"password": MASK}
    assert run.error == ErrorInfo(type="HTTPError", message=f"401 for key {MASK}")
    assert run.output == {"body": f"echo {MASK}"}
    assert [s.id for s in masked.steps] == ["p", "a", "e"]
    assert run.status == "error" and run.parents == ["a"]
    serialized = masked.model_dump_json()
    assert not any(secret in serialized for secret in FAKES.values())


def test_mask_trace_rejects_invalid_pattern():
    with pytest.raises(ConfigError, match=r"invalid secret pattern '\*bad'"):
        mask_trace(_trace(), ["*bad"])


# ------------------------------------------------------------------------------------------------
# Every kind of secret, planted everywhere a trace carries text, never reaches the judge, the store or
# an export. Values are built at run time from a seeded generator (high entropy, like real keys).

import json as _json
import random as _random
import string as _string
from pathlib import Path as _Path

import duckdb as _duckdb
from typer.testing import CliRunner as _CliRunner

from agenteval.cli import app as _app
from agenteval.models import Tool as _Tool
from agenteval.secret_rules import SKIPPED, card_number, luhn_valid, rule_kinds
from agenteval.testing import FakeOpenAIServer

_rng = _random.Random(20240501)


def _chars(n: int, alphabet: str = _string.ascii_letters + _string.digits) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


_HEX = "0123456789abcdef"
_B64 = _string.ascii_letters + _string.digits + "+/"
#: kind -> (the secret value that must never leak, how it is written in text)
PLANTED: dict[str, tuple[str, str]] = {}


def _plant(kind: str, secret: str, text: str | None = None) -> None:
    PLANTED[kind] = (secret, text if text is not None else secret)


_plant("openai", k := "sk-proj-" + _chars(40) + "T3BlbkFJ" + _chars(40))
_plant("anthropic", "sk-ant-api03-" + _chars(93) + "AA")
_plant("aws-access-key-id", "AKIA" + _chars(16, _string.ascii_uppercase + "234567"))
_plant("aws-secret-access-key", s := _chars(20, _B64) + "Ab9/" + _chars(16, _B64), f"AWS secret access key {s} (us-east-1)")
_plant("github-pat", "ghp_" + _chars(36))
_plant("github-fine-grained", "github_pat_" + _chars(22) + "_" + _chars(59))
_plant("gitlab-pat", "glpat-" + _chars(20))
_plant("slack-bot", "xoxb-" + _chars(11, _string.digits) + "-" + _chars(12, _string.digits) + "-" + _chars(24))
_plant("google-api-key", "AIza" + _chars(35))
_plant("stripe-live", "sk_live_" + _chars(24))
_plant("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFuYSJ9." + _chars(43))
_plant("bearer", b := _chars(32) + "." + _chars(12), f"curl -H 'Authorization: Bearer {b}' https://api.example.invalid")
_plant("basic-auth-header", b := "dXNlcjp" + _chars(20), f"Authorization: Basic {b}")
_plant("pem-private-key", p := _chars(64, _B64), f"-----BEGIN RSA PRIVATE KEY-----\nMIIEow{p}\n{_chars(64, _B64)}\n-----END RSA PRIVATE KEY-----")
_plant("postgres-url-password", pw := "S3cr" + _chars(14), f"DATABASE_URL=postgres://app_user:{pw}@db.internal:5432/orders")
_plant("mongodb-url-password", pw := "Mg" + _chars(16), f"mongodb+srv://admin:{pw}@cluster0.example.mongodb.net/test")
_plant("huggingface", "hf_" + _chars(34, _string.ascii_letters))
_plant("sendgrid", "SG." + _chars(22) + "." + _chars(43))
_plant("npm", "npm_" + _chars(36))
_plant("azure-storage-key", ak := _chars(86, _B64) + "==",
       f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={ak};EndpointSuffix=core.windows.net")
_plant("azure-ad-client-secret", _chars(3) + "8Q~" + _chars(34))
_plant("azure-sas", sig := _chars(43, _B64).replace("/", "A") + "%3D",
       f"https://acme.blob.core.windows.net/c/f.txt?sv=2022-11-02&se=2030-01-01&sr=b&sp=r&sig={sig}")
_plant("card-visa", "4111 1111 1111 1111", "pay with card 4111 1111 1111 1111 exp 12/29")
_plant("card-mastercard", "5500005555555559")
_plant("password-assignment", pw := "Tr0ub4dor&" + _chars(6), f'config: {{"db_password": "{pw}"}}')
_plant("api-key-env", v := _chars(32, _HEX), f"AZURE_OPENAI_API_KEY={v}")
_plant("twilio", "SK" + _chars(32, _HEX))
_plant("shopify", "shpat_" + _chars(32, _HEX))
_plant("digitalocean", "dop_v1_" + _chars(64, _HEX))


def test_at_least_twenty_kinds_are_planted_and_rules_are_loaded():
    assert len(PLANTED) >= 20
    kinds = rule_kinds()
    assert "huggingface-access-token" in kinds and "card-number" in kinds and "url-password" in kinds
    assert "generic-api-key" not in kinds and set(SKIPPED) == {"generic-api-key"}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_each_planted_kind_is_masked_in_text(kind):
    secret, text = PLANTED[kind]
    masked = mask_secrets(f"note: {text} -- end")
    assert secret not in masked, masked
    assert MASK in masked
    assert masked.endswith(" -- end")


def test_card_numbers_need_luhn_and_an_issuer():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert card_number("4111-1111-1111-1111") and card_number("378282246310005")
    assert not card_number("4111111111111112")  # fails Luhn
    assert not card_number("1700000000000005")  # a timestamp in ms: no issuer starts with 1
    assert mask_secrets({"amount": 4111111111111111, "id": 1714572000000}) == {"amount": MASK, "id": 1714572000000}


#: Things that look random but are not secrets: they must come through unmasked.
NOT_SECRETS = [
    "refund-ORD-48213",  # trace ids
    "booking-trattoria-lucia",
    "3f786850e387550fdab836ed7e6dc881de23001b",  # git SHA / sha1
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # sha256
    "d41d8cd98f00b204e9800998ecf8427e",  # md5
    "123e4567-e89b-12d3-a456-426614174000",  # UUIDs
    "0190f3c2-7b7e-7a3c-9f7e-1c2d3e4f5a6b",
    "2024-05-01T12:34:56.789Z",  # timestamps
    "2024-05-01 12:34:56+00:00",
    "1714566896789",
    "call_9aF3kLmN0pQrStUvWxYz1234",  # tool call ids
    "chatcmpl-9aF3kLmN0pQrStUvWxYz",
    "span 5b8efff798038103d269b633813fc60c",  # OTel trace and span ids
    "max_tokens: 4096, input_tokens: 1532, token_count: 88",
    "the password reset link was sent; secret: sauce",
    "postgres://db.internal:5432/orders",
    "ORD-48213 refunded $1,234.50 on 2024-05-01",
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_identifiers_hashes_uuids_and_timestamps_survive(text):
    assert mask_secrets(text) == text
    assert mask_secrets({"id": text, "value": [text]}) == {"id": text, "value": [text]}


def test_tool_schemas_keep_their_shape_and_lose_their_secrets():
    secret = PLANTED["stripe-live"][0]
    schema = {
        "type": "object",
        "description": f"Charge a card; the test key is {secret}",
        "properties": {
            "password": {"type": "string", "default": "hunter2-default", "examples": ["ex-pw-1", "ex-pw-2"]},
            "api_key": {"type": "string", "enum": ["k-one", "k-two"]},
            "amount": {"type": "number", "default": 10},
        },
        "required": ["password"],
    }
    masked = SecretMasker().schema(schema)
    assert masked["properties"]["password"] == {"type": "string", "default": MASK, "examples": [MASK, MASK]}
    assert masked["properties"]["api_key"] == {"type": "string", "enum": [MASK, MASK]}
    assert masked["properties"]["amount"] == {"type": "number", "default": 10}
    assert masked["required"] == ["password"]
    assert secret not in masked["description"]


def _planted_trace(kind: str, secret_text: str) -> Trace:
    canary = f"CANARY-{kind}"
    return Trace(
        id=f"secret-{kind}",
        task=f"{canary} task: {secret_text}",
        expected_outcome=f"answer without {secret_text}",
        metadata={"env": {"note": secret_text}, "canary": canary},
        tools=[
            _Tool(
                name="lookup",
                description=f"Look things up. Example: {secret_text}",
                parameters={
                    "type": "object",
                    "properties": {"query": {"type": "string", "description": f"e.g. {secret_text}"}},
                    "required": ["query"],
                },
            )
        ],
        steps=[
            Step(id="u1", type="USER", output=f"{canary} please use {secret_text}"),
            Step(id="p1", type="PLAN", parents=["u1"], output=f"plan: call lookup with {secret_text}"),
            Step(id="pg1", type="PARAMGEN", parents=["p1"], tool="lookup", arguments={"query": f"q {secret_text}"},
                 metadata={"raw": f"args {secret_text}"}),
            Step(id="ex1", type="EXEC", parents=["pg1"], tool="lookup", arguments={"query": f"q {secret_text}"},
                 output={"result": f"found {secret_text}", "rows": [secret_text]},
                 error=ErrorInfo(type="Warning", message=f"slow query {secret_text}")),
            Step(id="s1", type="SYNTH", parents=["ex1"], output=f"The answer is {secret_text}.", is_final=True),
        ],
    )


def test_planted_secrets_never_reach_the_judge_the_store_or_an_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("AGENTEVAL_") or name.startswith("OPENAI_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "traces"
    folder.mkdir()
    for kind, (_, text) in PLANTED.items():
        (folder / f"{kind}.json").write_text(_planted_trace(kind, text).model_dump_json())
    db = tmp_path / "runs.duckdb"
    runner = _CliRunner()
    from agenteval.rubrics import load_rubrics

    metrics = tuple(dict.fromkeys(name for r in load_rubrics().rubrics.values() for name in r.metric_names))
    with FakeOpenAIServer(score=4, metrics=metrics) as server:
        result = runner.invoke(_app, ["eval", str(folder), "--db", str(db), "--model", "fake-judge",
                                      "--base-url", server.base_url, "--judge-all", "--json"])
        requests = _json.dumps(server.requests)
    assert result.exit_code == 0, result.output
    exported = tmp_path / "run.jsonl"
    assert runner.invoke(_app, ["export", "latest", str(exported), "--db", str(db)]).exit_code == 0
    shown = runner.invoke(_app, ["show", "--db", str(db), "--json"]).stdout
    with _duckdb.connect(str(db), read_only=True) as con:
        tables = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        rows = _json.dumps([con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables], default=str)
    places = {
        "judge requests": requests,
        "store rows": rows,
        "store file bytes": db.read_bytes().decode("latin-1"),
        "export": exported.read_text(),
        "eval output": result.output,
        "show --json": shown,
    }
    # The checks can fail: what is not a secret does arrive everywhere it is sent.
    assert all(f"CANARY-{kind}" in requests and f"CANARY-{kind}" in rows and f"CANARY-{kind}" in places["export"]
               for kind in PLANTED)
    assert "CANARY-npm" in places["eval output"] or "secret-npm" in places["eval output"]
    leaks = {(kind, where) for kind, (secret, _) in PLANTED.items() for where, text in places.items() if secret in text}
    assert not leaks
