"""report.html as a person sees it: opened in a real headless Chromium (Debian's `chromium`), driven over
the DevTools protocol, for a synthetic results directory with every section and for a real run of the
Prefect workflow on a small demo panel.

Why the DevTools protocol: `chromium --dump-dom/--screenshot` cannot report console errors or failed
loads, and selenium's chromedriver is a separate package that must match the browser's version; the
protocol needs only the browser and a websocket client (`websockets`, already installed with Prefect).

Checked: the page loads with no console message of level error, no uncaught exception and no failed
resource load; every <figure> image is decoded and laid out at non-zero size; a full-page screenshot is
written (into $REPORT_SCREENSHOTS when set, to keep it for a person to look at; else pytest's tmp dir). In CI (CI=true; .ci/run sets it and
installs chromium) a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_report import write_synthetic_results

from dyadflow.report import write_report_html

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out


@pytest.fixture
def screenshots(tmp_path) -> Path:
    return Path(os.environ.get("REPORT_SCREENSHOTS") or tmp_path)


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is not installed, and the browser test must run in CI (.ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install chromium); in CI this test fails instead")


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    failed_loads: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    screenshot: bytes = b""


class DevTools:
    """The smallest DevTools-protocol client: numbered commands, events collected as they arrive."""

    def __init__(self, url: str):
        from websockets.sync.client import connect

        self.socket = connect(url, max_size=None, open_timeout=30)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event["method"] == method:
                return event
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message

    def close(self):
        self.socket.close()


@contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A headless Chromium with a DevTools page; yields a connected DevTools client."""
    binary = chromium_binary()
    profile = tempfile.mkdtemp(prefix="report-chromium-")
    process = subprocess.Popen(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit status {process.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            pages = [t for t in json.load(response) if t["type"] == "page"]
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        try:
            yield client
        finally:
            client.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


FIGURE_SIZES = """JSON.stringify(Array.from(document.querySelectorAll('figure img')).map(img => {
  const box = img.getBoundingClientRect();
  return {id: img.closest('figure').id, width: box.width, height: box.height, natural: img.naturalWidth,
          complete: img.complete};
}))"""


def visit(page: Path, screenshot: Path | None = None) -> PageVisit:
    """Open `page` (a local file) and report what a reader's browser saw."""
    result = PageVisit()
    with chromium() as tools:
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.call(f"{domain}.enable")
        tools.call("Page.navigate", url=page.resolve().as_uri())
        tools.wait_for("Page.loadEventFired")
        result.figures = json.loads(tools.call("Runtime.evaluate", expression=FIGURE_SIZES)["result"]["value"])
        result.sections = json.loads(
            tools.call(
                "Runtime.evaluate",
                expression=(
                    "JSON.stringify(Array.from(document.querySelectorAll('section h2')).map(h => h.textContent))"
                ),
            )["result"]["value"]
        )
        metrics = tools.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = tools.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        )
        result.screenshot = base64.b64decode(shot["data"])
        for event in tools.events:
            method, params = event["method"], event["params"]
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                result.console_errors.append(json.dumps(params["args"])[:300])
            elif method == "Runtime.exceptionThrown":
                result.console_errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                result.console_errors.append(params["entry"]["text"])
            elif method == "Network.loadingFailed":
                result.failed_loads.append(f"{params.get('errorText')} ({params['requestId']})")
            elif method == "Network.requestWillBeSent":
                result.requests.append(params["request"]["url"][:80])
            elif method == "Network.responseReceived" and params["response"].get("status", 200) >= 400:
                result.failed_loads.append(f"{params['response']['url']}: HTTP {params['response']['status']}")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(result.screenshot)
    return result


def assert_reads_cleanly(seen: PageVisit, figures: int) -> None:
    assert seen.console_errors == []
    assert seen.failed_loads == []
    # nothing but the page itself (and its data: URIs) was requested: self-contained
    assert all(url.startswith(("file:", "data:")) for url in seen.requests), seen.requests
    assert len(seen.figures) == figures
    for figure in seen.figures:
        assert figure["complete"] and figure["natural"] > 0, figure
        assert figure["width"] > 50 and figure["height"] > 50, figure
    assert seen.screenshot.startswith(b"\x89PNG") and len(seen.screenshot) > 10_000


def test_the_harness_sees_console_errors_and_failed_loads(tmp_path):
    """The checks below can fail: a page with a missing image and a console error is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><figure id="f"><img src="missing.png" alt="x"></figure>'
        '<script>console.error("boom")</script></body></html>'
    )
    seen = visit(page)
    assert any("boom" in message for message in seen.console_errors)
    assert seen.failed_loads
    assert seen.figures[0]["natural"] == 0


def test_synthetic_report_in_chromium(tmp_path, screenshots):
    directory = write_synthetic_results(tmp_path / "results")
    page = write_report_html(directory)
    seen = visit(page, screenshots / "report_synthetic.png")
    assert_reads_cleanly(seen, figures=8)
    assert seen.sections == [
        "Run overview",
        "Regression table",
        "Coefficient plot",
        "Bootstrap diagnostics",
        "Out-of-sample prediction",
        "Interpretation",
        "Goodness of fit",
        "Rewiring sensitivity",
        "Network snapshots",
    ]


# ---- a real run -------------------------------------------------------------------------------------------

from flows_conftest import isolated_prefect  # noqa: E402,F401  (fixture)

REAL_FORMULA = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + absdiff('polyarchy') + edgecov(mlat)"


@pytest.fixture(scope="module")
def real_run(isolated_prefect, tmp_path_factory):
    """`dyadflow run` (bootstrap, sensitivity, gof) on a 20-state x 5-year demo panel."""
    from dyadflow.flows.workflow import run_flow
    from dyadflow.storage.demo import write_demo_dataset

    directory = tmp_path_factory.mktemp("real")
    write_demo_dataset(directory / "data", nodes=20, periods=5, seed=4)
    spec = directory / "run.toml"
    spec.write_text(f"""
[dataset]
spec = "data/dataset.toml"
store = "data/store"

[model]
formula = "{REAL_FORMULA}"

[bootstrap]
R = 12
seed = 1
batch_size = 6

[sensitivity]
levels = [0.2, 0.5]
simulations = 3
mode = "period"
seed = 2

[gof]
nsim = 20
seed = 3

[cluster]
kind = "local"
workers = 1

[output]
directory = "results"
""")
    return Path(run_flow(str(spec)))


def test_real_run_report_in_chromium(real_run, screenshots):
    page = write_report_html(real_run)
    seen = visit(page, screenshots / "report_real_run.png")
    # coefficients, bootstrap, gof, sensitivity; the run had no prediction and no edge data
    assert_reads_cleanly(seen, figures=4)
    html = page.read_text()
    assert "Prediction was not run" in html and "no edge data" in html
    assert "Interpretation (not run)" in html
    for stem in ("coefficients", "bootstrap", "gof", "sensitivity"):
        assert (real_run / "figures" / f"{stem}.pdf").exists()


def test_dyadflow_report_command(real_run, tmp_path):
    from typer.testing import CliRunner

    from dyadflow.flows.cli import app

    runner = CliRunner()
    before = (real_run / "figures" / "gof.png").read_bytes() if (real_run / "figures" / "gof.png").exists() else None
    outcome = runner.invoke(app, ["report", str(real_run)])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.strip() == f"report: {real_run / 'report.html'}"
    if before is not None:
        assert (real_run / "figures" / "gof.png").read_bytes() == before
    outcome = runner.invoke(app, ["report", str(tmp_path)])
    assert outcome.exit_code == 2
    assert "no run.json" in outcome.output and not (tmp_path / "report.html").exists()


def test_real_run_with_prediction_and_interpretation_tables(real_run, tmp_path, screenshots):
    """The same run plus the tables tergm.prediction / tergm.interpret write (the flows do not write them
    yet): out-of-sample prediction of two models, probability profiles, marginal effects, edge data."""
    from dyadflow import storage
    from dyadflow.tergm import btergm
    from dyadflow.tergm.interpret import edge_probabilities, marginal_effects, probability_profile
    from dyadflow.tergm.prediction import validate

    results = tmp_path / "results"
    shutil.copytree(real_run, results)
    panel = storage.open_panel(real_run.parent / "data" / "store")
    models = {"network": REAL_FORMULA, "logit": "cmaa ~ edges + absdiff('polyarchy') + edgecov(mlat)"}
    validate(models, panel, holdout_last=1).write(results)
    fit = btergm(REAL_FORMULA, panel, R=12, seed=1)
    probability_profile(fit, "shared_partners").to_parquet(results / "profiles.parquet", index=False)
    marginal_effects(fit).to_parquet(results / "marginal_effects.parquet", index=False)
    edge_probabilities(fit).assign(model="model").to_parquet(results / "edge_probabilities.parquet", index=False)

    page = write_report_html(results)
    seen = visit(page, screenshots / "report_real_run_prediction.png")
    assert_reads_cleanly(seen, figures=7)  # + ROC/PR, profiles, snapshots
    html = page.read_text()
    assert "(not run)" not in html
    assert "conditional on the observed test network" in html and "leak-free" in html
