"""`lsf explore` with two regions in a real browser (headless Chromium, as
tests/web/test_explore_browser.py): the region menu jumps to a region's centre, the readout names
that region, and the pair panel's legend lists the regions."""

import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import zarr

from lsf.stats.analysis_store import read
from tests.explore_inputs import explore_inputs
from tests.regions_inputs import add_regions, fragmentation_of
from tests.web.test_explore_browser import CHROMIUM_ARGS, pytestmark  # noqa: F401


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    inputs = explore_inputs(tmp_path_factory.getbasetemp() / "explore")
    analysis = tmp_path_factory.mktemp("browser_regions") / "analysis"
    shutil.copytree(inputs["analysis"], analysis)
    z = zarr.open_group(inputs["latents"], mode="r")["z"][...].astype(np.float64)
    pca = read(str(analysis)).pca.model
    pc0 = (z - pca.mean) @ pca.components[0]
    labels = (pc0 > np.median(pc0)).astype(np.int64)
    add_regions(analysis, fragmentation_of(z, labels, k=3), labels)
    command = [sys.executable, "-m", "lsf.cli", "explore", "--model", inputs["model"]]
    command += ["--analysis", str(analysis), "--latents", inputs["latents"], "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    for line in process.stdout:
        if "open http://" in line:
            url = line.split("open ", 1)[1].split()[0]
            break
    assert url, "lsf explore did not start"
    yield url
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def test_the_region_menu_jumps_to_a_regions_centre(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server)
        page.wait_for_selector("body[data-ready=true]", timeout=30000)
        assert page.is_visible("#region-jump") and page.is_visible("#region-row")
        assert "region 0" in page.inner_text("#region-legend")
        assert "region 1" in page.inner_text("#region-legend")
        for region in ("1", "0"):
            page.select_option("#region-jump", region)
            page.wait_for_function(
                f"document.getElementById('region').innerText.startsWith('region {region},')",
                timeout=30000,
            )
        assert page.input_value("#region-jump") == ""  # the menu resets after a jump
        caption = page.inner_text("#pair-caption")
        assert "latents coloured by region" in caption and "approximate" not in caption
        browser.close()
    assert errors == []
