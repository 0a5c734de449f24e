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
