"""The `tinygrad-bn step ... --html` page in a real headless browser (Debian's chromium).

The browser is driven through chromedriver's W3C WebDriver HTTP API with urllib: real clicks, real
key presses, and the browser's console log, with no Python package beyond the standard library.
Skipped, with the reason shown, only when chromium or chromedriver is not installed (.ci/run
installs both: `apt-get install chromium chromium-driver`).
"""
import base64
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tinygrad_bn.cli import main
from tinygrad_bn.describe import summary_text
from tinygrad_bn.examples import batch_norm_example, lecture_example
from tinygrad_bn.graph import backward_steps, topological_order
from tinygrad_bn.stepper import example_graph

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromedriver are not installed (apt-get install chromium chromium-driver; .ci/run does)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,900"]
ARROW_LEFT, ARROW_RIGHT, END = "\ue012", "\ue014", "\ue010"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference

VISIBLE = "return Array.from(document.querySelectorAll('section.step')).filter(s => !s.hidden)"
RED_NODES = VISIBLE + """.map(s => Array.from(s.querySelectorAll('g.node'))
    .filter(g => Array.from(g.querySelectorAll('polygon')).some(p => p.getAttribute('stroke') === 'red'))
    .map(g => g.querySelector('title').textContent))"""
GRAD_TEXTS = VISIBLE + """.map(s => Array.from(s.querySelectorAll('g.node')).map(g => [
    g.querySelector('title').textContent,
    Array.from(g.querySelectorAll('text')).map(t => t.textContent).filter(t => t.startsWith('grad '))]))"""


class Browser:
    """A chromium session through chromedriver's WebDriver HTTP API."""

    def __init__(self, profile):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not self._ready():
            if time.monotonic() > deadline:
                raise RuntimeError("chromedriver did not start within 30 s")
            time.sleep(0.1)
        options = {"binary": CHROMIUM, "args": FLAGS + [f"--user-data-dir={profile}"]}
        session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}}}})
        self.session = f"/session/{session['sessionId']}"

    def _ready(self):
        try:
            return self.call("GET", "/status")["ready"]
        except (urllib.error.URLError, ConnectionError):
            return False

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"WebDriver {method} {path}: {error.read().decode()[:500]}") from None

    def open(self, url):
        self.call("POST", f"{self.session}/url", {"url": url})

    def run(self, script):
        return self.call("POST", f"{self.session}/execute/sync", {"script": script, "args": []})

    def click(self, css):
        element = self.call("POST", f"{self.session}/element", {"using": "css selector", "value": css})
        self.call("POST", f"{self.session}/element/{element[ELEMENT]}/click", {})

    def press(self, key):
        self.call("POST", f"{self.session}/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]})

    def console(self):
        """Console messages since the last call: [(level, message)]."""
        return [(e["level"], e["message"]) for e in self.call("POST", f"{self.session}/se/log", {"type": "browser"})]

    def screenshot(self, path):
        path.write_bytes(base64.b64decode(self.call("GET", f"{self.session}/screenshot")))

    def close(self):
        try:
            self.call("DELETE", self.session)
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


@pytest.fixture(scope="module", params=["bn", "lecture"])
def page(request, tmp_path_factory):
    """(example name, path of its page, the node ids in backward order, the finished graph)."""
    path = tmp_path_factory.mktemp("page") / f"{request.param}.html"
    assert main(["step", request.param, "--html", str(path)]) == 0
    loss = example_graph(request.param)
    ids = {node: i for i, node in enumerate(topological_order(loss))}
    expected = [f"n{ids[step.node]}" for step in backward_steps(loss)]
    finished = lecture_example() if request.param == "lecture" else batch_norm_example()  # backward() done
    return request.param, path, expected, finished


def visible_red(browser):
    (red,) = browser.run(RED_NODES)  # exactly one step is visible
    return red


def test_the_page_is_self_contained(page):
    _, path, expected, _ = page
    text = path.read_text()
    assert not re.search(r"<script[^>]+src=|<link\b|<iframe|<img\b|@import|url\(", text)
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert text.count('<section class="step"') == len(expected)


def test_the_page_loads_without_console_errors_and_shows_the_first_step(browser, page):
    _, path, expected, _ = page
    browser.console()  # forget anything from an earlier page
    browser.open(path.as_uri())
    assert browser.run("return document.readyState") == "complete"
    assert [m for level, m in browser.console() if level in ("SEVERE", "WARNING")] == []
    assert browser.run("return document.getElementById('counter').textContent") == f"step 1 of {len(expected)}"
    assert visible_red(browser) == [expected[0]]


def test_the_console_check_can_fail(browser, page):
    """A console error made on purpose shows up in the log that the test above finds empty."""
    _, path, _, _ = page
    browser.open(path.as_uri())
    browser.console()
    browser.run("console.error('planted error'); return null")
    assert any("planted error" in m for level, m in browser.console() if level == "SEVERE")


def test_next_moves_the_highlight_to_the_following_node(browser, page):
    _, path, expected, _ = page
    browser.open(path.as_uri())
    for k in range(1, len(expected)):
        browser.click("#next")
        assert visible_red(browser) == [expected[k]], f"after {k} clicks on Next"
    assert browser.run("return document.getElementById('next').disabled") is True
    browser.press(ARROW_LEFT)
    assert visible_red(browser) == [expected[-2]]
    browser.click("#prev")
    assert visible_red(browser) == [expected[-3]]
    browser.press(ARROW_RIGHT)
    assert visible_red(browser) == [expected[-2]]
    assert [m for level, m in browser.console() if level == "SEVERE"] == []


def test_fit_to_width_shows_the_whole_diagram_and_back(browser, page):
    _, path, _, _ = page
    browser.open(path.as_uri())
    widths = VISIBLE + "[0].querySelector('.diagram').getBoundingClientRect().width"
    svg_width = VISIBLE + "[0].querySelector('svg').getBoundingClientRect().width"
    natural = browser.run(svg_width)
    browser.click("#fit")
    assert browser.run(svg_width) <= browser.run(widths) < natural
    assert browser.run("return document.getElementById('fit').textContent") == "Actual size"
    browser.click("#fit")
    assert browser.run(svg_width) == natural


def test_the_last_step_shows_every_gradient(browser, page, tmp_path):
    name, path, expected, finished = page
    browser.open(path.as_uri())
    browser.press(END)
    assert browser.run("return document.getElementById('counter').textContent") == \
        f"step {len(expected)} of {len(expected)}"
    (boxes,) = browser.run(GRAD_TEXTS)
    shown = {title: grads for title, grads in boxes if title.startswith("n")}
    ids = {f"n{i}": node for i, node in enumerate(topological_order(finished))}
    assert set(shown) == set(ids)
    for title, node in ids.items():
        assert shown[title] == [f"grad {summary_text(node.grad)}"], f"{title} ({node.label})"
    browser.screenshot(tmp_path / f"{name}-last-step.png")  # for a person to look at when debugging
