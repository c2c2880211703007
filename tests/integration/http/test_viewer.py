"""The entity viewer (``GET /``) in a real headless Chromium (Debian's ``/usr/bin/chromium``,
driven by Playwright; never a browser Playwright downloads) against a real server.

A person's path: open the page, type a sentence, wait for the highlights; the highlighted spans
must be exactly ``/predict_tokens``'s for the same options, the redacted pane exactly
``/redact``'s, a hover shows the score, and the page loads nothing from anywhere else.
Under CI=true a missing chromium fails the test instead of skipping it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.http.conftest import start_server
from tests.integration.requires import skip_or_fail

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync"]
SENTENCE = "My name is John Smith, email john.smith@example.com or call +1 (415) 555-0199."
KEY = "viewer-test-key"
#: What the page reads back from the highlights it drew.
MARKS_JS = """els => els.map(e => ({label: e.dataset.label, start: Number(e.dataset.start), end: Number(e.dataset.end),
                                   text: e.firstChild.textContent, score: Number(e.dataset.score)}))"""


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    skip_or_fail(f"{CHROMIUM} is missing (apt-get install -y chromium; scripts/install-chromium.sh does it)")


@pytest.fixture()
def browser_context(tmp_path) -> Iterator:
    """A fresh Chromium profile per test (launch_persistent_context is Playwright's way to give
    it --user-data-dir)."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 760})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def auth_server(rampart_service, tmp_path_factory):
    with start_server(rampart_service, tmp_path_factory.mktemp("viewer-auth"), api_keys=[KEY]) as srv:
        yield srv


def _wait_until(page, expression: str, arg=None, timeout_s: float = 60.0) -> None:
    """Poll from Python: Playwright's wait_for_function evaluates strings in the page, which the
    page's own Content-Security-Policy (rightly) forbids, and the test keeps that policy on."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression, arg):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def _analyzed(page, text: str) -> None:
    _wait_until(page, "t => window.nerViewer.analyzed === t && document.body.dataset.state === 'done'", text)


def _type_and_wait(page, text: str) -> list[dict]:
    page.locator("#text").press_sequentially(text)
    _analyzed(page, text)
    return page.eval_on_selector_all("mark.ent", MARKS_JS)


def _expected(client: httpx.Client, text: str, **options) -> list[dict]:
    resp = client.post("/predict_tokens", json={"inputs": [[text]], **options})
    assert resp.status_code == 200, resp.text
    return [{"label": label, "start": i["start"], "end": i["end"], "text": i["token"], "score": score}
            for i in resp.json()[0] for label, score in i["results"].items()]


def _same_spans(shown: list[dict], want: list[dict]) -> None:
    assert [{k: v for k, v in s.items() if k != "score"} for s in shown] == \
        [{k: v for k, v in w.items() if k != "score"} for w in want]
    assert [s["score"] for s in shown] == pytest.approx([w["score"] for w in want], abs=1e-6)


def test_typed_sentence_is_highlighted_as_predict_tokens_says(live_server, browser_context, tmp_path):
    page = browser_context.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/")
    assert page.locator("#key-field").is_hidden()  # no auth on this server

    shown = _type_and_wait(page, SENTENCE)
    with live_server.client() as client:
        want = _expected(client, SENTENCE, aggregation_strategy="first", merge_adjacent=True)
        redacted = client.post("/redact", json={"inputs": [SENTENCE]}).json()[0]["redacted_text"]
    _same_spans(shown, want)
    assert {s["label"] for s in shown} >= {"GIVEN_NAME", "SURNAME", "EMAIL"}
    assert page.locator("#redacted").inner_text() == redacted
    assert "john.smith@example.com" not in redacted

    first = page.locator("mark.ent").first
    first.hover()
    tip = first.locator(".tip")
    assert tip.is_visible()
    assert f"{shown[0]['score']:.3f}" in tip.inner_text()
    shot = tmp_path / "viewer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # Other options re-run at once and still equal /predict_tokens for them.
    page.locator("#merge").uncheck()
    page.select_option("#aggregation", "simple")
    _wait_until(page, "() => document.body.dataset.state === 'done' && document.querySelector('#aggregation').value "
                      "=== 'simple' && window.nerViewer.options === 'simple/false'")
    with live_server.client() as client:
        _same_spans(page.eval_on_selector_all("mark.ent", MARKS_JS),
                    _expected(client, SENTENCE, aggregation_strategy="simple", merge_adjacent=False))

    assert not errors
    assert requested and all(u.startswith(f"{live_server.url}/") for u in requested), requested


def test_with_auth_the_page_opens_and_its_calls_carry_the_key(auth_server, browser_context):
    page = browser_context.new_page()
    resp = page.goto(f"{auth_server.url}/")
    assert resp.status == 200
    assert page.locator("#key-field").is_visible()

    page.locator("#text").press_sequentially("Call John Smith.")
    _wait_until(page, "() => document.body.dataset.state === 'error'")
    assert "API key" in page.locator("#status").inner_text()
    assert page.locator("mark.ent").count() == 0

    page.locator("#key").fill(KEY)
    page.locator("#key").dispatch_event("change")
    _analyzed(page, "Call John Smith.")
    shown = page.eval_on_selector_all("mark.ent", MARKS_JS)
    with auth_server.client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        _same_spans(shown, _expected(client, "Call John Smith.", aggregation_strategy="first", merge_adjacent=True))
    assert [s["text"] for s in shown] == ["John", "Smith"]
