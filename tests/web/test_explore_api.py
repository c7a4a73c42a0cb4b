"""`lsf explore`: the position readout against scipy, the micro-batcher, the HTTP API with
good and bad requests (httpx against the ASGI app), the verb's input checks, and the Ray
Serve decoder deployment."""

import asyncio
import base64
import io
import math

import httpx
import numpy as np
import pytest
from PIL import Image
from scipy import stats
from scipy.spatial.distance import mahalanobis

from lsf.analyze import analyze
from lsf.cli import main
from lsf.core.config import SAMPLERS, AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.data.shards import read_images
from lsf.explore import host_warning, listening_socket, url_of
from lsf.nn.model import load_model
from lsf.sampling.decode import decode, encode_images
from lsf.sampling.samplers import sample, statistics_from_analysis
from lsf.stats.analysis_store import read
from lsf.stats.pairs import binned_kde
from lsf.web import position as pos
from lsf.web.app import build_app, finite
from lsf.web.batching import LocalCodec, MicroBatcher, decode_parts
from lsf.web.explorer import load_explorer
from tests.explore_inputs import explore_inputs
from tests.helpers import (
    ORACLE_BATCH,
    assert_model_close,
    assert_same_images,
    latent_like,
    write_latent_store,
)

pytestmark = pytest.mark.timeout(300)


# ---- where a latent sits: against scipy on generated data ---------------------------------


@pytest.fixture(scope="module")
def generated_space(tmp_path_factory):
    """An analysis of 3000 correlated, partly heavy-tailed 12-dim rows, and the oracle's
    trimmed set computed with numpy from the fitted mu/FWHM."""
    tmp = tmp_path_factory.mktemp("space")
    x = latent_like(3000, seed=4)
    store = write_latent_store(tmp / "l.zarr", x, 1000)
    config = AnalyzeConfig(bins=32, pairs="0,1", pca_pairs="0,1", pair_bins=8)
    analyze(config, store, str(tmp / "a"), progress=QUIET)
    a = read(str(tmp / "a"))
    mu, fwhm = a.fits.gaussians.mu, a.fits.gaussians.fwhm
    radius = np.max(np.abs(x.astype(np.float64) - mu) / fwhm, axis=1)
    core = x[radius < a.config.trim_fact].astype(np.float64)
    return pos.space_from_analysis(a), x.astype(np.float64), core, a.fits.gaussians


def test_position_matches_scipy_mahalanobis_chi2_and_trim_radius(generated_space):
    space, x, core, fits = generated_space
    centre, cov = core.mean(axis=0), np.cov(core, rowvar=False)
    inverse = np.linalg.inv(cov)
    rng = np.random.default_rng(0)
    points = np.concatenate([x[rng.choice(len(x), 5)], centre + rng.normal(size=(5, 12))])
    for z in points:
        p = pos.position(z, space)
        d2 = mahalanobis(z, centre, inverse) ** 2
        assert p["d2"] == pytest.approx(d2, rel=1e-7)
        assert p["dof"] == 12
        assert p["chi2_percentile"] == pytest.approx(stats.chi2.cdf(d2, 12), abs=1e-9)
        trim = max(abs(z[j] - fits.mu[j]) / fits.fwhm[j] for j in range(12))
        assert p["trim_radius"] == pytest.approx(trim, rel=1e-12)


def test_data_percentile_is_the_fraction_of_real_latents_closer_to_the_centre(generated_space):
    space, x, core, _ = generated_space
    centre, inverse = core.mean(axis=0), np.linalg.inv(np.cov(core, rowvar=False))
    d2_all = np.einsum("ij,jk,ik->i", x - centre, inverse, x - centre)
    for q in (0.05, 0.3, 0.5, 0.8, 0.95):
        d2 = np.quantile(d2_all, q)
        assert pos.data_percentile(d2, space) == pytest.approx((d2_all <= d2).mean(), abs=0.01)
    assert pos.data_percentile(0.0, space) == 0.0
    assert pos.data_percentile(10 * d2_all.max(), space) == 1.0


def test_verdict_core_tail_and_outside(generated_space):
    space, x, core, _ = generated_space
    centre, cov = core.mean(axis=0), np.cov(core, rowvar=False)
    assert pos.position(centre, space)["verdict"] == pos.CORE
    # the same chi2 percentile along an even direction in whitened coordinates
    root = np.linalg.cholesky(cov)
    even = np.ones(12) / math.sqrt(12)
    at = {q: centre + root @ (even * math.sqrt(stats.chi2.ppf(q, 12))) for q in (0.5, 0.97)}
    assert pos.position(at[0.5], space)["verdict"] == pos.CORE
    tail = pos.position(at[0.97], space)
    assert tail["verdict"] == pos.TAIL and tail["chi2_percentile"] == pytest.approx(0.97)
    assert "chi2 percentile above 0.9" in tail["reason"]
    far = x.max(axis=0) + 1.0
    outside = pos.position(far, space)
    assert (
        outside["verdict"] == pos.OUTSIDE and "beyond the real latents' range" in outside["reason"]
    )
    assert pos.verdict(0.5, 2.0, False, 1.5) == pos.TAIL  # outside the trim box
    assert pos.verdict(0.5, 2.0, False, None) == pos.CORE  # an analysis that did not trim


# ---- batching -----------------------------------------------------------------------------


def test_micro_batcher_runs_concurrent_requests_as_one_batch():
    calls = []

    def batch_fn(items):
        calls.append(list(items))
        return [item * 10 for item in items]

    async def run(batcher, count):
        return await asyncio.gather(*[batcher.submit(k) for k in range(count)])

    batcher = MicroBatcher(batch_fn, wait_s=0.001)
    assert asyncio.run(run(batcher, 8)) == [k * 10 for k in range(8)]
    assert batcher.batch_sizes == [8] and calls == [list(range(8))]
    small = MicroBatcher(batch_fn, wait_s=0.001, max_items=3)
    assert asyncio.run(run(small, 8)) == [k * 10 for k in range(8)]
    assert small.batch_sizes == [3, 3, 2]


def test_micro_batcher_gives_every_request_of_a_failed_batch_the_error():
    def broken(items):
        raise ValueError("decoder failed")

    async def run():
        batcher = MicroBatcher(broken, wait_s=0.001)
        return await asyncio.gather(*[batcher.submit(k) for k in range(3)], return_exceptions=True)

    results = asyncio.run(run())
    assert all(isinstance(r, ValueError) and "decoder failed" in str(r) for r in results)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return explore_inputs(tmp_path_factory.getbasetemp() / "explore")


@pytest.fixture(scope="module")
def model(inputs):
    return load_model(inputs["model"])[0]


def test_decode_parts_is_one_forward_pass_split_back_into_the_parts(model):
    rng = np.random.default_rng(1)
    parts = [rng.normal(size=(k, 12)).astype(np.float32) for k in (1, 3, 2)]
    joined = decode_parts(model, parts)
    assert [len(p) for p in joined] == [1, 3, 2]
    # the same batch through the same kernels: exact
    np.testing.assert_array_equal(np.concatenate(joined), decode(model, np.concatenate(parts)))
    for part, images in zip(parts, joined, strict=True):
        assert_same_images(images, decode(model, part, batch_size=ORACLE_BATCH))


# ---- the HTTP API -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explorer(inputs, model):
    return load_explorer(
        inputs["analysis"],
        LocalCodec(model),
        latents=inputs["latents"],
        shards=inputs["shards"],
        image_shape=(32, 32, 3),
        components=6,
    )


@pytest.fixture(scope="module")
def client(explorer):
    app = build_app(explorer)

    def request(method: str, url: str, **kwargs) -> httpx.Response:
        async def go():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    request.app = app
    return request


def png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_info_describes_the_space(client, explorer):
    info = client("GET", "/api/info").json()
    assert info["dim"] == 12 and info["components"] == 6 and info["ids"] == 400
    np.testing.assert_allclose(info["centre"], explorer.space.centre)
    assert len(info["pca_axes"]) == 6 and len(info["pca_sigma"]) == 6
    with_regions = explorer.regions is not None  # the regions samplers need the analysis's
    expected = [s for s in SAMPLERS if with_regions or not s.startswith("regions")]
    assert info["samplers"] == expected and info["source_images"] is True


def test_decode_returns_the_decoder_image_and_the_position(client, model, explorer):
    z = explorer.space.centre + np.linspace(-1, 1, 12)
    response = client("POST", "/api/decode", json={"z": z.tolist()})
    assert response.status_code == 200
    body = response.json()
    expected = decode(model, z[None].astype(np.float32), batch_size=ORACLE_BATCH)[0]
    assert_same_images(png(body["image"]), expected)
    assert body["position"] == pos.position(z, explorer.space)


def test_concurrent_decodes_are_batched_and_each_gets_its_own_image(client, model, explorer):
    zs = [explorer.space.centre + k * 0.3 for k in range(6)]
    batches_before = len(explorer.codec.batcher.batch_sizes)

    async def go():
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(
                *[c.post("/api/decode", json={"z": z.tolist()}) for z in zs]
            )

    responses = asyncio.run(go())
    expected = decode(model, np.asarray(zs, dtype=np.float32), batch_size=ORACLE_BATCH)
    for response, image in zip(responses, expected, strict=True):
        assert_same_images(png(response.json()["image"]), image)
    assert sum(explorer.codec.batcher.batch_sizes[batches_before:]) == 6


@pytest.fixture(scope="module")
def stored(inputs):
    return read(inputs["analysis"])


def test_samplers_decode_seeded_draws_of_lsf_samplers(client, model, stored, explorer):
    statistics = statistics_from_analysis(stored)
    regions = None if explorer.regions is None else explorer.regions.mixture
    for name in explorer.samplers:
        body = client("POST", "/api/sample", json={"sampler": name, "n": 3, "seed": 5}).json()
        assert len(body["frames"]) == 3, name
        z = np.asarray([f["z"] for f in body["frames"]], dtype=np.float32)
        if name != "gmm":  # gmm is fitted on a store sample: checked by its decoded images
            np.testing.assert_array_equal(z, sample(name, statistics, 3, 5, regions=regions)[0])
        decoded = decode(model, z, batch_size=ORACLE_BATCH)[1]
        assert_same_images(png(body["frames"][1]["image"]), decoded)


def test_project_encodes_the_source_image_and_reconstructs_it(client, inputs, model):
    body = client("POST", "/api/project", json={"id": 123}).json()
    _, images = read_images(inputs["shards"], np.array([123]))
    np.testing.assert_array_equal(png(body["source"]), images[0])
    z = encode_images(model, images, batch_size=ORACLE_BATCH)
    assert_model_close(body["z"], z[0])
    # the explorer decodes its own latent: kernel differences in z reach the pixels too
    decoded = decode(model, np.asarray([body["z"]], dtype=np.float32), batch_size=ORACLE_BATCH)
    assert_same_images(png(body["image"]), decoded[0])


def test_paths_run_between_their_end_points(client, inputs, model, explorer):
    body = client("POST", "/api/path", json={"kind": "interpolate", "a": 3, "b": 9, "steps": 5})
    frames = body.json()["frames"]
    _, images = read_images(inputs["shards"], np.array([3, 9]))
    ends = encode_images(model, images, batch_size=ORACLE_BATCH)
    assert len(frames) == 5
    assert_model_close(frames[0]["z"], ends[0])
    assert_model_close(frames[-1]["z"], ends[1])
    frames = client("POST", "/api/path", json={"kind": "origin_to_centre", "steps": 4}).json()
    assert frames["frames"][0]["z"] == [0.0] * 12
    centre = explorer.space.centre
    np.testing.assert_allclose(
        frames["frames"][-1]["z"], centre, rtol=1e-6, atol=1e-6 * np.abs(centre).max()
    )


def store_rows(inputs) -> np.ndarray:
    import zarr

    return zarr.open_group(inputs["latents"], mode="r")["z"][...].astype(np.float64)


@pytest.mark.parametrize("i, j", [(1, 4), (4, 1)])
def test_pair_panel_density_is_the_smoothed_histogram_of_the_pair(client, inputs, stored, i, j):
    panel = client("GET", f"/api/pair?system=original&i={i}&j={j}").json()
    ex, ey = stored.pairs("original").edges[i], stored.pairs("original").edges[j]
    x = store_rows(inputs)
    counts, _, _ = np.histogram2d(x[:, i], x[:, j], bins=[ex, ey])
    cov2 = np.cov(x[:, [i, j]], rowvar=False)  # every row: what the analysis scored with
    smooth = binned_kde(counts, (ex[1] - ex[0], ey[1] - ey[0]), cov2, len(x))
    assert panel["density_source"] == "analysis" and panel["names"] == [f"z{i}", f"z{j}"]
    np.testing.assert_allclose(panel["density"]["values"], smooth / smooth.max(), atol=6e-4)
    assert [c["sigma"] for c in panel["contours"]] == [1, 2, 3]


def test_pair_panel_ellipses_are_those_of_the_trimmed_covariance(client, explorer):
    space = explorer.space
    # the oracle: the covariance of the trimmed rows is what PCA decomposed
    cov = space.basis_covariance()
    for system, (i, j) in (("original", (2, 5)), ("pca", (0, 3))):
        panel = client("GET", f"/api/pair?system={system}&i={i}&j={j}").json()
        if system == "original":
            mean2, cov2 = space.centre[[i, j]], cov[np.ix_([i, j], [i, j])]
        else:
            mean2, cov2 = np.zeros(2), np.diag(space.pca.explained_variance[[i, j]])
        inverse = np.linalg.inv(cov2)
        for ellipse in panel["ellipses"]:
            d = np.asarray(ellipse["points"]) - mean2
            d2 = np.einsum("ij,jk,ik->i", d, inverse, d)
            np.testing.assert_allclose(np.sqrt(d2), ellipse["sigma"], rtol=1e-3)
        axes = np.asarray(panel["axes"])
        z = space.centre + np.arange(12.0)
        origin = np.zeros(12) if panel["origin"] is None else np.asarray(panel["origin"])
        expected = (
            z[[i, j]] if system == "original" else space.pca.components[[i, j]] @ (z - space.centre)
        )
        np.testing.assert_allclose(axes @ (z - origin), expected, rtol=1e-6, atol=1e-6)


def test_basis_covariance_is_the_covariance_of_the_trimmed_rows(inputs, explorer):
    space = explorer.space
    x = store_rows(inputs)
    radius = np.max(np.abs(x - space.fit_mu) / space.fit_fwhm, axis=1)
    core = x[radius < space.trim_fact]
    np.testing.assert_allclose(space.centre, core.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        space.basis_covariance(), np.cov(core, rowvar=False), rtol=1e-6, atol=1e-9
    )


def test_a_pair_the_analysis_did_not_histogram_is_counted_on_store_rows(inputs, model, tmp_path):
    analysis = str(tmp_path / "few-pairs")
    config = AnalyzeConfig(bins=24, pair_bins=16, pairs="0,1", pca_pairs="0,1")
    analyze(config, inputs["latents"], analysis, progress=QUIET)
    with_store = load_explorer(analysis, LocalCodec(model), latents=inputs["latents"])
    panel = with_store.pair("original", 2, 7)
    assert panel["density_source"] == "latent sample" and panel["density_rows"] == 400
    without = load_explorer(analysis, LocalCodec(model))
    panel = without.pair("original", 2, 7)
    assert panel["density_source"] == "none" and panel["density"] is None
    assert len(panel["ellipses"]) == 3
    assert without.info()["ids"] is None and "gmm" not in without.samplers


BAD_REQUESTS = [
    ("POST", "/api/decode", {"json": {"z": [0.0] * 11}}, "latent dim is 12"),
    ("POST", "/api/decode", {"json": {"z": [0.0] * 13}}, "latent dim is 12"),
    ("POST", "/api/decode", {"content": b'{"z": [NaN, 0,0,0,0,0,0,0,0,0,0,0]}'}, "non-finite"),
    ("POST", "/api/decode", {"content": b'{"z": [1e999, 0,0,0,0,0,0,0,0,0,0,0]}'}, "finite"),
    ("POST", "/api/decode", {"content": b'{"z": [Infinity]}'}, "non-finite"),
    ("POST", "/api/decode", {"json": {"z": ["1"] + [0] * 11}}, "numbers only"),
    ("POST", "/api/decode", {"json": {"z": [True] + [0] * 11}}, "numbers only"),
    ("POST", "/api/decode", {"json": {"z": 3}}, "list of 12"),
    ("POST", "/api/decode", {"json": {}}, "list of 12"),
    ("POST", "/api/decode", {"json": [1, 2]}, "JSON object"),
    ("POST", "/api/decode", {"content": b"{not json"}, "not valid JSON"),
    ("POST", "/api/decode", {"content": b"\xff\xfe"}, "not valid JSON"),
    ("POST", "/api/decode", {"content": b"[" * 100000}, "not valid JSON"),
    ("POST", "/api/decode", {"json": {"z": [0] * 12, "path": "/etc"}}, "unknown field 'path'"),
    ("POST", "/api/decode", {"content": b"1" * (2 << 20)}, "over 1048576 bytes"),
    ("POST", "/api/sample", {"json": {"sampler": "nope"}}, "sampler must be one of"),
    ("POST", "/api/sample", {"json": {"sampler": ["mvn"]}}, "sampler must be one of"),
    ("POST", "/api/sample", {"json": {"sampler": "mvn", "n": 0}}, "n must be in 1..64"),
    ("POST", "/api/sample", {"json": {"sampler": "mvn", "n": 65}}, "n must be in 1..64"),
    ("POST", "/api/sample", {"json": {"sampler": "mvn", "n": 10**30}}, "n must be in"),
    ("POST", "/api/sample", {"json": {"sampler": "mvn", "n": "3"}}, "n must be an integer"),
    ("POST", "/api/sample", {"json": {"sampler": "mvn", "seed": -1}}, "seed must be in"),
    ("POST", "/api/sample", {"json": {"sampler": "mvn", "n": 2.5}}, "n must be an integer"),
    ("POST", "/api/project", {"json": {"id": 400}}, "id must be in 0..399"),
    ("POST", "/api/project", {"json": {"id": -1}}, "id must be in 0..399"),
    ("POST", "/api/project", {"json": {"id": "../../etc/passwd"}}, "id must be an integer"),
    ("POST", "/api/project", {"json": {}}, "id is required"),
    ("POST", "/api/path", {"json": {"kind": "spiral"}}, "kind must be one of"),
    ("POST", "/api/path", {"json": {"kind": "origin_to_centre", "steps": 33}}, "steps must be"),
    ("POST", "/api/path", {"json": {"kind": "interpolate", "a": 1, "b": 999}}, "b must be in"),
    ("POST", "/api/path", {"json": {"kind": "interpolate", "a": 1}}, "b is required"),
    ("GET", "/api/pair?system=pca&i=0&j=0", {}, "two different components"),
    ("GET", "/api/pair?system=pca&i=0&j=12", {}, "j must be in 0..11"),
    ("GET", "/api/pair?system=pca&i=-1&j=2", {}, "i must be in 0..11"),
    ("GET", "/api/pair?system=pca&i=x&j=2", {}, "must be an integer"),
    ("GET", "/api/pair?system=polar&i=0&j=2", {}, "system must be one of"),
    ("GET", "/api/pair?system=pca&i=0", {}, "j is required"),
    ("GET", "/api/pair?system=pca&i=0&j=1&file=/etc/passwd", {}, "unknown query parameter"),
]


@pytest.mark.parametrize("method, url, kwargs, message", BAD_REQUESTS)
def test_bad_requests_get_422_with_a_message(client, method, url, kwargs, message):
    response = client(method, url, **kwargs)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]


def test_responses_carry_no_nan_which_json_cannot_hold():
    value = {"a": [1.0, float("nan")], "b": {"c": float("-inf"), "d": (2, "x")}, "e": None}
    assert finite(value) == {"a": [1.0, None], "b": {"c": None, "d": [2, "x"]}, "e": None}


def test_the_page_and_its_files_are_served_and_nothing_else(client):
    page = client("GET", "/")
    assert page.status_code == 200 and "/static/explore.js" in page.text
    assert 'src="http' not in page.text and 'href="http' not in page.text  # no CDN
    for name in ("explore.js", "explore.css"):
        assert client("GET", f"/static/{name}").status_code == 200
    assert client("GET", "/static/../explorer.py").status_code == 404
    assert client("GET", "/static/%2e%2e/explorer.py").status_code == 404
    assert client("GET", "/api/decode").status_code == 405


# ---- the verb -----------------------------------------------------------------------------


def test_explore_refuses_bad_inputs_in_one_line(inputs, tmp_path, capsys):
    base = ["explore", "--model", inputs["model"], "--analysis", inputs["analysis"]]
    cases = [
        (["explore", "--model", str(tmp_path / "none.pt"), "--analysis", "x"], "model not found"),
        (
            ["explore", "--model", inputs["model"], "--analysis", str(tmp_path)],
            "no analysis at",
        ),
        ([*base, "--latents", str(tmp_path / "no.zarr")], "latent store"),
        ([*base, "--shards", str(tmp_path)], "no shards at"),
        ([*base, "--components", "0"], "--components must be >= 1"),
        ([*base, "--threads", "-1"], "--threads must be >= 0"),
        ([*base, "--port", "70000"], "--port must be in 0..65535"),
        ([*base, "--host", "no-such-host.invalid"], "cannot be resolved"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("lsf explore: error:") and message in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_explore_refuses_an_analysis_of_another_latent_dim(inputs, tmp_path, capsys):
    store = write_latent_store(tmp_path / "l.zarr", latent_like(600)[:, :10], 600)
    analysis = str(tmp_path / "a")
    analyze(AnalyzeConfig(pairs="0,1", pca_pairs="0,1"), store, analysis, progress=QUIET)
    argv = ["explore", "--model", inputs["model"], "--analysis", analysis]
    assert main(argv) == 2
    assert "the analysis has latent dim 10 but the model 12" in capsys.readouterr().err
    assert main([*argv[:3], "--analysis", inputs["analysis"], "--latents", store]) == 2
    assert "has latent dim 10, the analysis 12" in capsys.readouterr().err


def test_a_port_in_use_is_refused_and_port_zero_picks_a_free_one(inputs, capsys):
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    assert url_of(sock, "127.0.0.1") == f"http://127.0.0.1:{port}/"
    try:
        argv = ["explore", "--model", inputs["model"], "--analysis", inputs["analysis"]]
        assert main([*argv, "--port", str(port)]) == 2
        assert "cannot listen on 127.0.0.1" in capsys.readouterr().err
    finally:
        sock.close()


def test_listening_beyond_loopback_is_warned_about():
    assert host_warning("127.0.0.1") is None and host_warning("localhost") is None
    assert "reachable from other machines" in host_warning("0.0.0.0")
    with pytest.raises(LsfError, match="--port must be"):
        listening_socket("127.0.0.1", -1)


# ---- Ray Serve ----------------------------------------------------------------------------


def test_serve_settings_are_checked():
    from lsf.web.serve import settings_from_args

    assert settings_from_args({"model": "m", "analysis": "a", "replicas": "3"})["replicas"] == 3
    for args, message in [
        ({"model": "m"}, "analysis=... is required"),
        ({"model": "m", "analysis": "a", "path": "/x"}, "unknown setting 'path'"),
        ({"model": "m", "analysis": "a", "replicas": "two"}, "must be numbers"),
        ({"model": "m", "analysis": "a", "replicas": "0"}, "must be >= 1"),
    ]:
        with pytest.raises(LsfError, match=message):
            settings_from_args(args)


def test_explore_serve_refuses_bad_settings_before_joining_ray(capsys):
    argv = ["explore", "--serve", "--model", "m", "--analysis", "a", "--replicas", "0"]
    assert main(argv) == 2
    assert "lsf explore: error: replicas and components must be >= 1" in capsys.readouterr().err


def test_the_serve_application_answers_the_same_api_with_batched_decoding(ray_local, inputs, model):
    """A real Ray Serve deployment on the local Ray instance: page, API and validation
    through Serve's HTTP proxy, decoding on the decoder replica (`serve.batch`)."""
    from ray import serve

    from lsf.web.serve import APP_NAME, build

    probe = listening_socket("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    quiet = {"log_level": "WARNING"}
    serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config=quiet)
    try:
        args = {k: inputs[k] for k in ("model", "analysis", "latents", "shards")}
        application = build({**args, "components": "4"})
        serve.run(application, name=APP_NAME, route_prefix="/", logging_config=quiet)
        base = f"http://127.0.0.1:{port}"
        info = httpx.get(f"{base}/api/info", timeout=60).json()
        assert info["components"] == 4 and info["ids"] == 400
        assert "/static/explore.js" in httpx.get(f"{base}/", timeout=60).text
        zs = [np.asarray(info["centre"]) + 0.2 * k for k in range(8)]

        async def decode_all():
            async with httpx.AsyncClient(base_url=base, timeout=60) as c:
                return await asyncio.gather(
                    *[c.post("/api/decode", json={"z": z.tolist()}) for z in zs]
                )

        responses = asyncio.run(decode_all())
        expected = decode(model, np.asarray(zs, dtype=np.float32), batch_size=ORACLE_BATCH)
        for response, image in zip(responses, expected, strict=True):
            assert_same_images(png(response.json()["image"]), image)
        bad = httpx.post(f"{base}/api/decode", json={"z": [0.0] * 3}, timeout=60)
        assert bad.status_code == 422 and "latent dim is 12" in bad.json()["error"]
        project = httpx.post(f"{base}/api/project", json={"id": 7}, timeout=60).json()
        assert project["source"].startswith("data:image/png")
        decoder = serve.get_deployment_handle("ExploreDecoder", app_name=APP_NAME)
        stats = decoder.stats.remote().result()
        assert stats["items"] == 9 and stats["batches"] <= 9  # 8 decodes + 1 reconstruction
    finally:
        serve.shutdown()
