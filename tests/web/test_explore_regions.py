"""`lsf explore` with regions: /api/info lists each region's share, colour and centre, a
decoded latent is placed in its region (numpy oracle), the regions samplers draw what
`lsf.sampling` draws, the pair panel carries the map sample labelled by region (store rows
when the store is given, else reconstructed), and an analysis without regions has none."""

import asyncio
import shutil

import httpx
import numpy as np
import pytest

from lsf.nn.model import load_model
from lsf.sampling.regions import RegionMixture
from lsf.sampling.samplers import sample, statistics_from_analysis
from lsf.stats.analysis_store import read
from lsf.web.app import build_app
from lsf.web.batching import LocalCodec
from lsf.web.explorer import load_explorer
from tests.explore_inputs import explore_inputs
from tests.regions_inputs import add_regions, fragmentation_of, remove_regions

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return explore_inputs(tmp_path_factory.getbasetemp() / "explore")


@pytest.fixture(scope="module")
def model(inputs):
    return load_model(inputs["model"])[0]


@pytest.fixture(scope="module")
def regions_analysis(inputs, tmp_path_factory):
    """The explore analysis with two regions: the store rows split at the median of pc0."""
    import zarr

    folder = tmp_path_factory.mktemp("explore_regions") / "analysis"
    shutil.copytree(inputs["analysis"], folder)
    z = zarr.open_group(inputs["latents"], mode="r")["z"][...].astype(np.float64)
    pca = read(str(folder)).pca.model
    pc0 = (z - pca.mean) @ pca.components[0]
    labels = (pc0 > np.median(pc0)).astype(np.int64)
    result = fragmentation_of(z, labels, k=3, sample=200)
    result.pca_mean = pca.mean  # the analysis's PCA, as the contract states
    result.pca_components = pca.components[:3]
    scores = (z - result.pca_mean) @ result.pca_components.T
    result.sample_scores = scores[result.sample_rows].astype(np.float32)
    result.score_means = np.stack([scores[labels == r].mean(axis=0) for r in (0, 1)])
    result.score_covariances = np.stack([np.cov(scores[labels == r], rowvar=False) for r in (0, 1)])
    add_regions(folder, result, labels)
    return str(folder), z


def client_of(explorer):
    app = build_app(explorer)

    def request(method: str, url: str, **kwargs) -> httpx.Response:
        async def go():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    return request


@pytest.fixture(scope="module")
def explorer(regions_analysis, inputs, model):
    analysis, _ = regions_analysis
    return load_explorer(
        analysis, LocalCodec(model), latents=inputs["latents"], image_shape=(32, 32, 3)
    )


@pytest.fixture(scope="module")
def client(explorer):
    return client_of(explorer)


def oracle_region(f, z):
    scores = (z - f.pca_mean) @ f.pca_components.T
    d2 = np.array(
        [
            (scores - m) @ np.linalg.inv(c) @ (scores - m)
            for m, c in zip(f.score_means, f.score_covariances, strict=True)
        ]
    )
    nearest = int(d2.argmin())
    return nearest, d2[nearest], -1 if d2[nearest] > f.radius2[nearest] else nearest


def test_info_lists_each_regions_share_colour_and_centre(client, regions_analysis):
    analysis, _ = regions_analysis
    f = read(analysis).fragmentation
    info = client("GET", "/api/info").json()
    assert [r["region"] for r in info["regions"]] == [0, 1]
    for region in info["regions"]:
        r = region["region"]
        assert region["share"] == pytest.approx(f.shares[r], rel=1e-12)
        assert region["rows"] == f.counts[r]
        np.testing.assert_allclose(region["centre"], f.means[r], rtol=1e-12)
    assert info["regions"][0]["colour"] != info["regions"][1]["colour"]
    assert {"regions", "regions-ellipsoid"} <= set(info["samplers"])
    assert info["fragmentation"] == f.verdict


@pytest.mark.parametrize("where", ["centre 0", "centre 1", "far"])
def test_decode_names_the_region_of_the_latent(client, regions_analysis, where):
    analysis, _ = regions_analysis
    f = read(analysis).fragmentation
    z = {"centre 0": f.means[0], "centre 1": f.means[1], "far": f.means[0] + 50.0}[where]
    body = client("POST", "/api/decode", json={"z": z.tolist()}).json()
    nearest, d2, region = oracle_region(f, z)
    assert body["region"]["nearest"] == nearest and body["region"]["region"] == region
    assert body["region"]["d2"] == pytest.approx(d2, rel=1e-9, abs=1e-9)
    assert body["region"]["radius2"] == pytest.approx(f.radius2[nearest], rel=1e-12)
    assert region == {"centre 0": 0, "centre 1": 1, "far": -1}[where]


def test_regions_samplers_draw_the_region_mixture(client, regions_analysis):
    analysis, _ = regions_analysis
    mixture = RegionMixture.from_fragmentation(read(analysis).fragmentation)
    statistics = statistics_from_analysis(read(analysis))
    for name in ("regions", "regions-ellipsoid"):
        body = client("POST", "/api/sample", json={"sampler": name, "n": 4, "seed": 3}).json()
        z = np.asarray([frame["z"] for frame in body["frames"]], dtype=np.float32)
        expected, info = sample(name, statistics, 4, 3, regions=mixture)
        np.testing.assert_array_equal(z, expected)
        assert body["info"]["weights"] == pytest.approx(info["weights"])
        assert all("region" in frame for frame in body["frames"])


@pytest.mark.parametrize("system, i, j", [("pca", 0, 1), ("original", 2, 5)])
def test_pair_panel_carries_the_store_rows_of_the_map_sample_by_region(
    client, regions_analysis, explorer, system, i, j
):
    analysis, z = regions_analysis
    f = read(analysis).fragmentation
    panel = client("GET", f"/api/pair?system={system}&i={i}&j={j}").json()
    rows = z[f.sample_rows]
    if system == "pca":
        axes = explorer.space.pca.components[[i, j]]
        expected = (rows - explorer.space.centre) @ axes.T
    else:
        expected = rows[:, [i, j]]
    np.testing.assert_allclose(panel["regions"]["points"], expected, rtol=1e-6, atol=1e-4)
    assert panel["regions"]["labels"] == f.sample_labels.tolist()
    assert panel["regions"]["exact"] is True


def test_without_the_store_points_are_reconstructed_and_marked_approximate(
    regions_analysis, model, explorer
):
    analysis, _ = regions_analysis
    f = read(analysis).fragmentation
    alone = load_explorer(analysis, LocalCodec(model))
    reconstructed = f.pca_mean + f.sample_scores.astype(np.float64) @ f.pca_components
    within = alone.pair("pca", 0, 2)["regions"]
    beyond = alone.pair("pca", 0, 5)["regions"]
    original = alone.pair("original", 0, 1)["regions"]
    axes = alone.space.pca.components[[0, 2]]
    expected = (reconstructed - alone.space.centre) @ axes.T
    np.testing.assert_allclose(within["points"], expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(original["points"], reconstructed[:, [0, 1]], rtol=1e-6, atol=1e-4)
    assert within["exact"] is True and beyond["exact"] is False and original["exact"] is False


def test_an_analysis_without_regions_offers_no_regions(inputs, model, tmp_path):
    shutil.copytree(inputs["analysis"], tmp_path / "analysis")
    remove_regions(tmp_path / "analysis")
    plain = load_explorer(str(tmp_path / "analysis"), LocalCodec(model))
    client = client_of(plain)
    info = client("GET", "/api/info").json()
    assert info["regions"] == [] and info["fragmentation"] is None
    assert not {"regions", "regions-ellipsoid"} & set(info["samplers"])
    body = client("POST", "/api/decode", json={"z": [0.0] * plain.dim}).json()
    assert "region" not in body and "regions" not in plain.pair("pca", 0, 1)
    refused = client("POST", "/api/sample", json={"sampler": "regions", "n": 2, "seed": 0})
    assert refused.status_code == 422 and "sampler must be one of" in refused.json()["error"]
