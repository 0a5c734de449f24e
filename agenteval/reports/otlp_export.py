"""Where the evaluation events go: an OTLP/JSON file, or an OTLP/HTTP endpoint.

The file is JSON Lines, one ``ExportLogsServiceRequest`` per line: the layout of the OpenTelemetry
file exporter, which the Collector's ``otlpjsonfile`` receiver reads. The endpoint gets the same
requests over OTLP/HTTP with the JSON encoding (``Content-Type: application/json``), by the standard
library's ``urllib``: retried on 429, 502, 503 and 504 (honouring ``Retry-After``), and a response's
``partialSuccess`` rejection is an error, never a silent loss.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from agenteval.errors import ExportError
from agenteval.models import Run
from agenteval.reports.otlp_events import run_requests

LOGS_PATH = "/v1/logs"
_RETRY_STATUS = {429, 502, 503, 504}


def write_otlp_file(run: Run, path: Path) -> int:
    """Write the run's evaluation events to ``path`` as OTLP/JSON Lines; returns how many.

    Raises:
        ExportError: the file cannot be written.
    """
    count = 0
    try:
        with path.open("w", encoding="utf-8") as out:
            for request, n in run_requests(run):
                out.write(json.dumps(request, ensure_ascii=False, separators=(",", ":")) + "\n")
                count += n
    except OSError as exc:
        raise ExportError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
    return count


def logs_url(endpoint: str) -> str:
    """The logs URL of an OTLP/HTTP endpoint: a base URL (``http://host:4318``) gets ``/v1/logs``
    appended, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` does; a URL with a path is used as it is.

    Raises:
        ExportError: not an http(s) URL.
    """
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExportError("not an http(s) URL of an OTLP/HTTP endpoint", source=endpoint)
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + LOGS_PATH
    return endpoint


def send_otlp(
    run: Run, endpoint: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0, retries: int = 3
) -> int:
    """Send the run's evaluation events to an OTLP/HTTP endpoint; returns how many were accepted.

    Raises:
        ExportError: the endpoint is unreachable, answers with an error, or rejects records.
    """
    url = logs_url(endpoint)
    sent = 0
    for request, n in run_requests(run):
        body = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        answer = _post(url, body, dict(headers or {}), timeout, retries)
        rejected = int((answer.get("partialSuccess") or {}).get("rejectedLogRecords") or 0)
        if rejected:
            why = (answer.get("partialSuccess") or {}).get("errorMessage") or "no reason given"
            raise ExportError(f"the endpoint rejected {rejected} of {n} events: {why}", source=url)
        sent += n
    return sent


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float, retries: int) -> dict:
    headers = {**headers, "Content-Type": "application/json"}
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8", errors="replace")
            try:
                answer = json.loads(text) if text.strip() else {}
            except ValueError:
                answer = {}
            return answer if isinstance(answer, dict) else {}
        except urllib.error.HTTPError as exc:
            if exc.code in _RETRY_STATUS and attempt < retries:
                time.sleep(_retry_after(exc.headers.get("Retry-After"), attempt))
                continue
            detail = exc.read().decode("utf-8", errors="replace").strip().splitlines()
            raise ExportError(f"HTTP {exc.code} {exc.reason}" + (f": {detail[0][:200]}" if detail else ""), source=url) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if attempt < retries:
                time.sleep(_retry_after(None, attempt))
                continue
            raise ExportError(f"cannot reach the OTLP endpoint: {reason}", source=url) from None
    raise AssertionError("unreachable")


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        return min(float(value), 30.0) if value else 0.25 * 2**attempt
    except ValueError:
        return 0.25 * 2**attempt
