"""`lsf explore` in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright's Python client) against `lsf explore` started as a command on a tiny trained
model. Moves a slider, clicks the pair panel, checks that the decoded image and the
distance readout change and that the URL carries the state; saves a screenshot and the
measured slider-release -> new-image latencies under test-artifacts/."""

import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.explore_inputs import explore_inputs

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`lsf explore --port 0` as a subprocess; yields its printed URL."""
    inputs = explore_inputs(tmp_path_factory.getbasetemp() / "explore")
    command = [
        sys.executable,
        "-m",
        "lsf.cli",
        "explore",
        "--model",
        inputs["model"],
        "--analysis",
        inputs["analysis"],
        "--latents",
        inputs["latents"],
        "--shards",
        inputs["shards"],
        "--port",
        "0",
        "--components",
        "6",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
    url, seen = None, []
    while url is None:
        line = lines.get(timeout=120)
        seen.append(line)
        if "open http://" in line:
            url = line.split("open ", 1)[1].split()[0]
    yield url
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert any("lsf explore: stopped" in line for line in rest), seen + rest


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def readout(page) -> dict:
    return {
        "image": page.get_attribute("#face", "src"),
        "d2": page.inner_text("#d2"),
        "verdict": page.inner_text("#verdict"),
    }


def wait_for_timings(page, count: int) -> None:
    page.wait_for_function(f"window.lsfTimings.length >= {count}", timeout=30000)


def wait_for_url_state(page) -> None:
    """The page writes the state into the URL 150 ms after the last change."""
    page.wait_for_function("location.hash === window.lsfStateHash()", timeout=10000)


def test_slider_and_pair_panel_decode_and_update_the_readout(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    page.wait_for_selector("body[data-ready=true]", timeout=30000)
    start = readout(page)
    assert start["verdict"] == "inside the core" and start["image"].startswith("data:image/png")

    # drag the first PCA slider to about +2 sigma and release it
    box = page.locator("#pc0").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, y, steps=8)
    page.mouse.up()
    wait_for_timings(page, 1)
    page.wait_for_function("document.body.dataset.shown >= 1")
    moved = readout(page)
    assert moved["image"] != start["image"] and moved["d2"] != start["d2"]
    wait_for_url_state(page)
    assert "pc=0:" in page.url

    # single steps of the second slider: every release is a full decode round trip
    page.focus("#pc1")
    for count in range(2, 7):
        page.keyboard.press("ArrowRight")
        wait_for_timings(page, count)
    stepped = readout(page)
    assert stepped["d2"] != moved["d2"]

    # click the pair panel (PCA components 0 and 1) near its lower left corner
    canvas = page.locator("#panel").bounding_box()
    page.mouse.click(canvas["x"] + canvas["width"] * 0.25, canvas["y"] + canvas["height"] * 0.7)
    page.wait_for_function("window.lsfTimings.some((t) => t.kind === 'click')", timeout=30000)
    page.wait_for_function(f"document.getElementById('d2').innerText !== {stepped['d2']!r}")
    clicked = readout(page)
    assert clicked["image"] != stepped["image"] and clicked["d2"] != stepped["d2"]

    # a sampler grid, then the screenshot
    page.click("#sampler-buttons button:has-text('mvn-ellipsoid')")
    page.wait_for_selector("#sampler-grid .tile >> nth=15", timeout=30000)
    page.click("#interpolate")
    page.wait_for_function(  # the interpolation animation has reached its last frame
        "document.querySelector('#path-strip img:last-child')?.classList.contains('current')",
        timeout=30000,
    )
    page.screenshot(path=str(ARTIFACTS / "explore.png"), full_page=True)

    # the URL carries the state: a fresh page on it shows the same place
    wait_for_url_state(page)
    shared_url = page.url
    final = readout(page)
    shared = browser.new_page(viewport={"width": 1400, "height": 1000})
    shared.goto(shared_url)
    shared.wait_for_selector("body[data-ready=true]", timeout=30000)
    assert readout(shared)["d2"] == final["d2"]
    shared.close()

    timings = page.evaluate("window.lsfTimings")
    page.close()
    assert errors == []
    slider = [t["ms"] for t in timings if t["kind"] == "slider"]
    summary = {
        "slider_release_to_image_ms": slider,
        "median_ms": statistics.median(slider),
        "click_to_image_ms": [t["ms"] for t in timings if t["kind"] == "click"],
    }
    (ARTIFACTS / "explore-latency.json").write_text(json.dumps(summary, indent=2))
    print(f"\nslider release -> new image: median {summary['median_ms']:.0f} ms over {slider}")
    print(f"screenshot: {ARTIFACTS / 'explore.png'}")
