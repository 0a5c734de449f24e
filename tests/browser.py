"""Headless Chromium for the report tests: the DOM after the page's script ran, and screenshots.

The tests need Debian's ``chromium`` (``.ci/run`` installs it). When it is missing they fail with
the command that installs it: a browser test that is skipped proves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

INSTALL = "apt-get update && apt-get install -y chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--hide-scrollbars", "--mute-audio",
]


def chromium() -> str:
    """Path of the chromium binary; fails the test with the install command when there is none."""
    found = os.environ.get("AGENTEVAL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise AssertionError(f"headless Chromium is needed for this test; install it with: {INSTALL}")
    return found


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )


def dump_dom(url: str, *, window: str = "1400,900", wait_ms: int | None = None) -> str:
    """The serialized DOM of ``url`` after load (and after ``wait_ms`` of virtual time, for async pages)."""
    extra = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    done = _run([f"--window-size={window}", *extra, "--dump-dom", url])
    assert done.returncode == 0 and done.stdout.strip(), f"chromium --dump-dom failed: {done.stderr[-2000:]}"
    return done.stdout


def screenshot(url: str, out: Path, *, window: str = "1400,900") -> Path:
    """A PNG of ``url`` at the window size."""
    done = _run([f"--window-size={window}", f"--screenshot={out}", url])
    assert done.returncode == 0 and out.is_file(), f"chromium --screenshot failed: {done.stderr[-2000:]}"
    return out


class Elements(HTMLParser):
    """Every start tag of a document as (tag, attributes), plus the text under elements by id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_by_id: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag not in {"br", "meta", "input", "img", "link", "hr", "col", "source", "path", "rect", "stop"}:
            self._open.append((tag, found.get("id")))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for _, ident in self._open:
            if ident:
                self.text_by_id.setdefault(ident, []).append(data)

    def with_attr(self, name: str) -> list[dict[str, str | None]]:
        """Attributes of every element that has attribute ``name``."""
        return [attrs for _, attrs in self.tags if name in attrs]

    def text(self, ident: str) -> str:
        """All text inside the element with this id."""
        return "".join(self.text_by_id.get(ident, []))


MERMAID_VERSION = "11.17.2"
MERMAID_PREFIX = Path(os.environ.get("AGENTEVAL_NODE_CACHE", Path.home() / ".cache" / "agenteval-node"))
MERMAID_INSTALL = f"npm install --no-save --prefix {MERMAID_PREFIX} mermaid@{MERMAID_VERSION}"


def mermaid_js() -> Path:
    """Mermaid's browser bundle from npm (installed outside the repository by ``.ci/run``)."""
    path = MERMAID_PREFIX / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
    if not path.is_file():
        raise AssertionError(f"Mermaid {MERMAID_VERSION} is needed for this test; install it with: {MERMAID_INSTALL}")
    return path


_MERMAID_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<pre id="results">pending</pre><div id="out"></div>
<script src="{src}"></script>
<script>
const charts = {charts};
(async () => {{
  mermaid.initialize({{startOnLoad: false, securityLevel: 'strict'}});
  const results = [];
  for (let i = 0; i < charts.length; i++) {{
    try {{
      await mermaid.parse(charts[i]);
      const {{svg}} = await mermaid.render('chart' + i, charts[i]);
      const holder = document.createElement('div');
      holder.innerHTML = svg;
      results.push({{ok: true, nodes: holder.querySelectorAll('g.node').length,
                     edges: holder.querySelectorAll('.flowchart-link, path.relation, g.edgePaths path').length,
                     scripts: holder.querySelectorAll('script, foreignObject script').length,
                     text: holder.textContent}});
    }} catch (e) {{
      results.push({{ok: false, error: String(e && e.message || e)}});
    }}
  }}
  document.getElementById('results').textContent = JSON.stringify(results);
}})();
</script></body></html>"""


def mermaid_check(charts: list[str], folder: Path) -> list[dict]:
    """Parse and render each chart with the real Mermaid in headless Chromium.

    Returns one dict per chart: ``ok``; when ok, the drawn ``nodes`` and ``edges``, the ``scripts``
    found in the SVG, and its ``text``; else the parser's ``error``.
    """
    import json

    page = folder / "mermaid.html"
    page.write_text(_MERMAID_PAGE.format(src=mermaid_js().as_uri(), charts=json.dumps(charts).replace("</", "<\\/")), encoding="utf-8")
    dom = dump_dom(page.as_uri(), wait_ms=20000)
    raw = Elements(dom).text("results")
    assert raw and raw != "pending", f"Mermaid did not finish: {dom[-2000:]}"
    return json.loads(raw)
