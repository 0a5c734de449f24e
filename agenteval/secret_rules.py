"""Where secrets are in a text: gitleaks' rule set, plus rules gitleaks leaves to context.

The rule set is gitleaks' default configuration (``agenteval/_vendor/gitleaks/gitleaks.toml``, MIT licence beside
it), carried as data and read with its own semantics: a rule applies when one of its keywords is in
the text; the secret is the rule's capture group; it must pass the rule's entropy floor and escape
the global and the rule's allowlists. Its regexes are RE2 syntax and run on RE2, so a hostile trace
cannot make them backtrack.

agenteval adds what a trace needs that gitleaks finds only from context (:data:`AGENTEVAL_RULES`):
passwords in connection URLs, ``key = value`` assignments whose key names a credential, card numbers
that pass the Luhn check, Authorization headers, AWS secret keys next to the word AWS, Azure
connection strings and SAS signatures, and broader shapes of common tokens (OpenAI, Anthropic,
Hugging Face, SendGrid, npm, GitHub, Slack, Stripe, Google, JWT, PEM private keys).

Rules left out of gitleaks' set, and why, are in :data:`SKIPPED`.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import re2

from agenteval.errors import ConfigError

_VENDORED = Path(__file__).resolve().parent / "_vendor" / "gitleaks"
"""gitleaks' rule set and its licence, carried unchanged inside the package."""

#: gitleaks rules not used, with the reason.
SKIPPED = {
    "generic-api-key": "a keyword-plus-entropy guess that masks ordinary identifiers; credential-named keys "
    "and key = value assignments are masked by agenteval's own key-name rules instead",
}
#: Strings shorter than this hold no secret a text rule could find (credential-named keys are masked
#: whatever their length).
MIN_TEXT = 8

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 64 << 20


@dataclass(frozen=True)
class Finding:
    """One secret in a text."""

    kind: str
    """The rule that found it: a gitleaks rule id (``aws-access-token``) or an agenteval one."""
    start: int
    """Where the secret starts (the masked span)."""
    end: int
    """Where it ends."""


@dataclass
class Rule:
    """A compiled rule: regex, the capture group holding the secret, and the checks a match must pass."""

    kind: str
    regex: Any
    keywords: tuple[str, ...] = ()
    group: int | None = None
    entropy: float = 0.0
    allow: Callable[[str, str, str], bool] | None = None
    """(secret, match, line) -> True when the match is a known non-secret."""
    accept: Callable[[str], bool] | None = None
    """secret -> False when the secret fails a content check (Luhn, character mix, key name)."""
    prefilter: str | None = None
    """An RE2 pattern the text must match before the rule runs, for rules without keywords."""
    secret_from: Callable[[Any, str], tuple[int, int] | None] | None = field(default=None, repr=False)
    """(match, text) -> the secret's span, or None: a custom way to find the secret from the match."""


def _compile(pattern: str) -> Any:
    return re2.compile(pattern, options=_OPTIONS)


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``, as gitleaks computes it."""
    if not text:
        return 0.0
    counts = Counter(text)
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


# --------------------------------------------------------------------------------------------- gitleaks


def _allowlist(entries: list[dict[str, Any]]) -> Callable[[str, str, str], bool] | None:
    """gitleaks allowlists as one predicate; entries that only make sense for file paths are dropped."""
    checks = []
    for entry in entries:
        regexes = [_compile(r) for r in entry.get("regexes", [])]
        stopwords = [w.lower() for w in entry.get("stopwords", [])]
        target = entry.get("regexTarget", "secret")
        if entry.get("paths") and entry.get("condition", "OR").upper() == "AND":
            continue  # needs a file path to match too: never true for a trace
        if not regexes and not stopwords:
            continue
        checks.append((regexes, stopwords, target))
    if not checks:
        return None

    def allowed(secret: str, match: str, line: str) -> bool:
        for regexes, stopwords, target in checks:
            subject = {"secret": secret, "match": match, "line": line}.get(target, secret)
            if any(r.search(subject) for r in regexes):
                return True
            lowered = secret.lower()
            if any(w in lowered for w in stopwords):
                return True
        return False

    return allowed


@lru_cache(maxsize=1)
def gitleaks_rules() -> tuple[Rule, ...]:
    """gitleaks' default rules, compiled (once per process), less :data:`SKIPPED` and path-only rules."""
    config = tomllib.loads((_VENDORED / "gitleaks.toml").read_text(encoding="utf-8"))
    global_allow = _allowlist([config.get("allowlist", {})])
    rules = []
    for raw in config["rules"]:
        if raw["id"] in SKIPPED or "regex" not in raw or "path" in raw:
            continue  # path rules judge file names (e.g. *.p12), which a trace does not have
        rule_allow = _allowlist(raw.get("allowlists", []))

        def allow(secret: str, match: str, line: str, _rule=rule_allow) -> bool:
            return bool(global_allow and global_allow(secret, match, line)) or bool(_rule and _rule(secret, match, line))

        rules.append(
            Rule(
                kind=raw["id"],
                regex=_compile(raw["regex"]),
                keywords=tuple(k.lower() for k in raw.get("keywords", [])),
                group=raw.get("secretGroup"),
                entropy=float(raw.get("entropy", 0.0)),
                allow=allow,
            )
        )
    return tuple(rules)


# --------------------------------------------------------------------------------------------- agenteval

_KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SECRET_LAST_WORDS = frozenset(
    {
        "password", "passwords", "passwd", "pwd", "secret", "secrets", "token", "authorization", "apikey",
        "passphrase", "credential", "credentials", "cookie", "cvv", "cvc", "pat",
    }
)
_SECRET_LAST_PAIRS = frozenset(
    {
        ("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("signing", "key"),
        ("account", "key"), ("subscription", "key"), ("master", "key"), ("encryption", "key"),
        ("card", "number"), ("connection", "string"), ("auth", "token"), ("session", "key"),
    }
)


@lru_cache(maxsize=8192)
def is_secret_key(key: str) -> bool:
    """Whether a dict key or assignment name names a credential (password, token, api_key, ...).

    The key is split into words and judged by its last word or two, so ``access_token`` and
    ``x-api-key`` count while ``max_tokens`` and ``token_count`` do not.
    """
    words = [w.lower() for w in _KEY_WORDS.findall(key)]
    if not words:
        return False
    return words[-1] in _SECRET_LAST_WORDS or tuple(words[-2:]) in _SECRET_LAST_PAIRS


#: Values that stand in for a secret rather than being one: left as they are.
_PLACEHOLDER = re.compile(
    r"(?i)^(?:none|null|nil|true|false|undefined|redacted|masked|hidden|secret|password|changeme|xxx+|\*+|"
    r"\[masked\]|<[^>]*>|\$\{?[\w.]+\}?|\{\{[^}]*\}\}|%[\w]+%|your[_-]?\w*)$"
)
_AUTH_SCHEMES = frozenset({"basic", "bearer", "token", "digest", "bot", "negotiate", "apikey", "sso-key"})


def _credible_value(value: str) -> bool:
    """A value after a credential-named key that is worth masking: not a placeholder, and holding a
    digit or a symbol, or long and mixed-case ("password: hunter2" yes; "secret: sauce" and
    ``token=cancellation_token``, a variable name, no)."""
    if _PLACEHOLDER.match(value) or value.lower() in _AUTH_SCHEMES:
        return False
    if any(c.isdigit() or not (c.isalpha() or c in "_.-") for c in value):
        return True
    return len(value) >= 16 and not value.islower() and not value.isupper() and "_" not in value


# The value after ``key =`` / ``"key": ``: optional quote, then up to 512 characters that cannot end
# a value. One character class repeated, matched at a fixed position: linear, no backtracking.
_VALUE = re.compile(r"""\s{0,3}["']?([^\s"'`,;&{}()\[\]<>]{4,512})""")


def _assignment_secret(match: Any, text: str) -> tuple[int, int] | None:
    """The value assigned to a credential-named key, when it is worth masking."""
    if not is_secret_key(match.group(1)):
        return None
    value = _VALUE.match(text, match.end())
    if value is None or not _credible_value(value.group(1)):
        return None
    return value.start(1), value.end(1)


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum of card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Issuer prefixes and lengths (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro):
# a 13-19 digit number that passes Luhn but starts otherwise (a timestamp, an id) is left alone.
_CARD_ISSUER = re.compile(
    r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}|3[47]\d{13}|"
    r"6(?:011|5\d\d|4[4-9]\d)\d{12}(?:\d{3})?|35(?:2[89]|[3-8]\d)\d{12}(?:\d{3})?|3(?:0[0-5]|[689]\d)\d{11}(?:\d{3})?|"
    r"62\d{14}(?:\d{3})?|(?:50|5[6-8]|6\d)\d{10,17})$"
)


def card_number(text: str) -> bool:
    """Whether ``text`` (digits, maybe grouped by spaces or dashes) is a plausible payment card number."""
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.isdigit() and bool(_CARD_ISSUER.match(digits)) and luhn_valid(digits)


def _aws_secret(secret: str) -> bool:
    # 40 base64 characters with upper, lower and digits: a git SHA or sha1 hex has no upper case.
    return any(c.isupper() for c in secret) and any(c.islower() for c in secret) and any(c.isdigit() for c in secret)


def _not_prose(token: str) -> bool:
    # "Bearer authentication" is prose, not a credential.
    return not (token.isalpha() and token.islower())


_BOUNDARY = r"(?:^|[^A-Za-z0-9_-])"
_END = r"(?:$|[^A-Za-z0-9_-])"

#: agenteval's own rules: (kind, RE2 pattern with the secret in group 1, keywords, content check).
AGENTEVAL_RULES: tuple[tuple[str, str, tuple[str, ...], Callable[[str], bool] | None], ...] = (
    ("private-key-block",
     r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
     r"|[A-Za-z0-9+/=\s\\]*)", ("-----begin",), None),
    ("openai-anthropic-key", _BOUNDARY + r"(sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})", ("sk-",), None),
    ("aws-access-key-id", r"\b((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[0-9A-Z]{16})\b", ("akia", "asia", "abia", "acca", "a3t"), None),
    ("aws-secret-access-key", r"(?i:aws).{0,60}?(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])",
     ("aws",), _aws_secret),
    ("github-token", r"\b((?:gh[pousr]_[A-Za-z0-9]{30,})|github_pat_[A-Za-z0-9_]{20,})", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), None),
    ("slack-token", r"\b(xox[abposr]-[A-Za-z0-9-]{10,})", ("xox",), None),
    ("google-api-key", r"\b(AIza[0-9A-Za-z_-]{35})", ("aiza",), None),
    ("stripe-key", r"\b((?:sk|rk)_(?:live|test|prod)_[0-9A-Za-z]{10,})", ("sk_", "rk_"), None),
    ("json-web-token", r"\b(eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)", ("eyj",), None),
    ("huggingface-token", r"\b((?:hf_|api_org_)[A-Za-z0-9]{30,})\b", ("hf_", "api_org_"), None),
    ("sendgrid-key", r"\b(SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64})", ("sg.",), None),
    ("npm-token", r"\b(npm_[A-Za-z0-9]{36})\b", ("npm_",), None),
    ("url-password", r"\b[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/?#@\"'<>]*:([^\s/?#@\"'<>]+)@", ("://",), None),
    ("azure-connection-key",
     r"(?i)\b(?:AccountKey|SharedAccessKey|SharedAccessSignature|AccessKey)\s*=\s*([^;\"'\s]{16,})",
     ("accountkey", "sharedaccess", "accesskey"), None),
    ("azure-sas-signature", r"[?&]sig=([A-Za-z0-9%+/=]{16,})", ("sig=",), None),
    ("authorization-header",
     r"(?i)\b(?:proxy-)?authorization[\"']?\s{0,3}[:=]\s{0,3}[\"']?(?:basic|bearer|token|digest|bot|negotiate|apikey)\s+([^\s\"',;]+)",
     ("authorization",), None),
    ("bearer-token", r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*)", ("bearer",), _not_prose),
    ("card-number", r"(?:^|[^0-9A-Za-z_.-])(\d(?:[ -]?\d){12,18})(?:$|[^0-9A-Za-z_.-]|\.(?:$|[^0-9]))", (), card_number),
)

# ``key =`` / ``"key":`` (the name and its operator only, so one assignment's value never hides the
# next assignment's key); the name is checked and the value read in Python.
_ASSIGNMENT = r"\b([A-Za-z_][A-Za-z0-9_.-]{0,60})[\"']?\s{0,3}(?:=>|:=|=|:)"
# A credential word near an assignment operator: only such texts run the assignment rule.
_ASSIGNMENT_PREFILTER = (
    r"(?i)(?:pass|pwd|secret|token|key|auth|credential|cookie|cvv|cvc|pat|card|connection|string)"
    r"[\w.-]{0,20}[\"']?\s{0,3}[:=]"
)


def agenteval_rules() -> tuple[Rule, ...]:
    """agenteval's own rules (:data:`AGENTEVAL_RULES` and the key-name assignment rule), compiled."""
    rules = []
    for kind, pattern, keywords, accept in AGENTEVAL_RULES:
        regex = _compile(pattern)
        # The rule's own regex is its prefilter: the one RE2 set pass says exactly which of these match.
        rules.append(Rule(kind=kind, regex=regex, group=1 if regex.groups else 0, accept=accept, prefilter=pattern))
    rules.append(Rule(kind="credential-assignment", regex=_compile(_ASSIGNMENT), prefilter=_ASSIGNMENT_PREFILTER,
                      secret_from=_assignment_secret))
    return tuple(rules)


# --------------------------------------------------------------------------------------------- scanner


class SecretScanner:
    """Finds secrets in texts with gitleaks' rules, agenteval's rules and any extra patterns.

    Build once (rules compile here) and call :meth:`find` many times. One RE2 set of every rule's
    keywords is run over a text first, so a text runs only the rules whose keywords it contains.

    Args:
        extra_patterns: additional regular expressions (Python syntax, from the user's own
            configuration) whose whole matches are secrets, reported as kind ``extra-pattern``.

    Raises:
        ConfigError: an extra pattern is not a valid regular expression.
    """

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        if isinstance(extra_patterns, str):
            extra_patterns = [extra_patterns]
        self._extra: list[re.Pattern[str]] = []
        for pattern in extra_patterns:
            try:
                self._extra.append(re.compile(pattern))
            except re.error as exc:
                raise ConfigError(f"invalid secret pattern {pattern!r}: {exc}") from None
        self._rules, self._always, self._prefilter, self._filter_rules = _prepared()

    @property
    def has_extra(self) -> bool:
        """Whether extra patterns were given (they apply to texts of any length)."""
        return bool(self._extra)

    def find(self, text: str) -> list[Finding]:
        """Every secret in ``text``, as (kind, start, end), in no particular order; spans may overlap."""
        found: list[Finding] = []
        if len(text) >= MIN_TEXT:
            # gitleaks' rules expect a quote, space or line end after a token; in prose a sentence's full
            # stop or a closing bracket follows it. Scanning a copy where such punctuation is a space
            # keeps every position, so the spans found are the spans in ``text``.
            view = _PUNCTUATION.sub(" ", text)
            chosen: set[int] = set(self._always)
            for hit in self._prefilter.Match(view) or ():
                chosen.update(self._filter_rules[hit])
            for index in sorted(chosen):
                _run(self._rules[index], view, found)
        for pattern in self._extra:
            found.extend(Finding("extra-pattern", m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start())
        return found


_PUNCTUATION = re.compile(r"[.,!?)\]}>](?=\s|$)")


def _run(rule: Rule, text: str, found: list[Finding]) -> None:
    for match in rule.regex.finditer(text):
        if rule.secret_from is not None:
            span = rule.secret_from(match, text)
            if span is None:
                continue
            start, end = span
        else:
            group = rule.group if rule.group is not None else _first_group(match)
            start, end = match.span(group)
            if start < 0 or end <= start:
                continue
        secret = text[start:end]
        if rule.entropy and shannon_entropy(secret) <= rule.entropy:
            continue
        if rule.accept is not None and not rule.accept(secret):
            continue
        if rule.allow is not None and rule.allow(secret, match.group(0), _line(text, match.start(), match.end())):
            continue
        found.append(Finding(rule.kind, start, end))


def _first_group(match: Any) -> int:
    """gitleaks' choice: the first capture group that matched something, else the whole match."""
    for index in range(1, len(match.groups()) + 1):
        if match.group(index):
            return index
    return 0


def _line(text: str, start: int, end: int) -> str:
    left = text.rfind("\n", 0, start) + 1
    right = text.find("\n", end)
    return text[left : right if right >= 0 else len(text)]


@lru_cache(maxsize=1)
def _prepared() -> tuple[tuple[Rule, ...], tuple[int, ...], Any, tuple[tuple[int, ...], ...]]:
    """Every rule, the rules that always run, one RE2 set of keywords and prefilters, and the rules
    each entry of that set switches on (built once per process)."""
    rules = gitleaks_rules() + agenteval_rules()
    by_keyword: dict[str, list[int]] = {}
    always = []
    for index, rule in enumerate(rules):
        if not rule.prefilter and any(len(k) <= 2 for k in rule.keywords):
            # "sk", "ey", "s.": in half the words of any text; the rule's own regex filters better.
            rule.prefilter = rule.regex.pattern
        if rule.prefilter:
            by_keyword.setdefault("\0re:" + rule.prefilter, []).append(index)
        elif rule.keywords:
            for keyword in rule.keywords:
                by_keyword.setdefault(keyword, []).append(index)
        else:
            always.append(index)
    prefilter = re2.Set.SearchSet(_OPTIONS)
    filter_rules = []
    for key, indexes in by_keyword.items():
        prefilter.Add(key[4:] if key.startswith("\0re:") else "(?i)" + re2.escape(key))
        filter_rules.append(tuple(indexes))
    prefilter.Compile()
    return rules, tuple(always), prefilter, tuple(filter_rules)


def rule_kinds() -> list[str]:
    """The kinds of secret the scanner knows (gitleaks rule ids and agenteval's), sorted."""
    return sorted({r.kind for r in _prepared()[0]})
