import numpy as np
import pytest
from scipy import stats

from lsf.cli import main
from lsf.core.config import SAMPLERS
from lsf.core.errors import LsfError
from lsf.sampling import paths
from lsf.sampling.metrics import (
    PixelPCAFeatures,
    frechet_distance,
    frechet_distance_of,
    precision_recall,
)
from lsf.sampling.samplers import (
    LatentStatistics,
    fit_gmm,
    latent_statistics,
    regularised_covariance,
    sample,
    squared_radius,
)
from lsf.stats.analysis_store import Histograms, StoredFits, StoredOutliers
from lsf.stats.fits import GaussianFits
from tests.helpers import ORACLE_BATCH, assert_close_to_scale, assert_same_images

D = 5


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((D, D))
    cov = a @ a.T / D + 0.3 * np.eye(D)
    mean = np.array([3.0, -2.0, 0.5, 8.0, 1.0])
    std = np.sqrt(np.diag(cov))
    return LatentStatistics(
        mean=mean,
        cov=cov,
        mu=mean + 0.1,
        sigma=std * 0.9,
        low=mean - 2 * std,
        high=mean + 3 * std,
        jitter=0.0,
    )


def test_mvn_reproduces_the_fitted_mean_and_covariance(fitted):
    x, _ = sample("mvn", fitted, 200000, seed=1)
    assert x.dtype == np.float32 and x.shape == (200000, D)
    np.testing.assert_allclose(x.mean(axis=0), fitted.mean, atol=0.02)
    np.testing.assert_allclose(np.cov(x, rowvar=False), fitted.cov, atol=0.02)


def test_mvn_ellipsoid_stays_inside_and_accepts_the_chi2_level(fitted):
    x, info = sample("mvn-ellipsoid", fitted, 20000, seed=2, level=0.8)
    radius = stats.chi2.ppf(0.8, D)
    assert (squared_radius(x.astype(np.float64), fitted) <= radius * (1 + 1e-5)).all()
    assert info["accepted_fraction"] == pytest.approx(0.8, abs=4 * np.sqrt(0.16 / 25000))


def test_mvn_pca_box_bounds_each_pca_component(fitted):
    x, _ = sample("mvn-pca-box", fitted, 20000, seed=3, pca_sigmas=1.5)
    variance, vectors = np.linalg.eigh(fitted.cov)
    t = (x.astype(np.float64) - fitted.mean) @ vectors / np.sqrt(variance)
    assert np.abs(t).max() <= 1.5 + 1e-4 and np.abs(t).max() > 1.4


def test_independent_samplers_are_uncorrelated_and_respect_their_ranges(fitted):
    ranged, _ = sample("independent-range", fitted, 50000, seed=4)
    normal, _ = sample("independent-normal", fitted, 50000, seed=5)
    box, info = sample("uniform-box", fitted, 50000, seed=6)
    for x in (ranged, normal, box):
        corr = np.corrcoef(x, rowvar=False)
        assert np.abs(corr - np.eye(D)).max() < 0.03
    assert (ranged >= fitted.low.astype(np.float32)).all() and (
        ranged <= fitted.high.astype(np.float32)
    ).all()
    np.testing.assert_allclose(normal.mean(axis=0), fitted.mu, atol=0.03)
    assert_close_to_scale(normal.std(axis=0), fitted.sigma, rtol=0.02)
    assert info["interval"] == [fitted.low.min(), fitted.high.max()]
    assert box.min() >= fitted.low.min() and box.max() <= fitted.high.max()


def test_gmm_sampler_reproduces_a_two_cluster_latent_space():
    rng = np.random.default_rng(7)
    rows = np.concatenate([rng.normal(-4, 0.5, (3000, 2)), rng.normal(4, 0.5, (1000, 2))])
    gmm = fit_gmm(rows, 2, seed=0)
    s = LatentStatistics(
        rows.mean(0),
        np.cov(rows, rowvar=False),
        rows.mean(0),
        rows.std(0),
        rows.min(0),
        rows.max(0),
        0.0,
    )
    x, info = sample("gmm", s, 8000, seed=1, gmm=gmm)
    assert info["components"] == 2
    assert (x[:, 0] > 0).mean() == pytest.approx(0.25, abs=0.02)
    assert not np.array_equal(x[:100, 0] > 0, np.sort(x[:100, 0] > 0))  # shuffled, not grouped


def test_bad_sampler_input_is_refused(fitted):
    with pytest.raises(LsfError, match="unknown sampler 'vae'.*uniform-box"):
        sample("vae", fitted, 10, seed=0)
    with pytest.raises(LsfError, match="--n must be positive"):
        sample("mvn", fitted, 0, seed=0)


def test_singular_covariance_is_regularised_with_a_reported_jitter():
    v = np.array([[1.0, 2.0, 3.0]])
    cov, jitter = regularised_covariance(v.T @ v)
    assert jitter > 0 and np.linalg.eigvalsh(cov).min() > 0
    same, none = regularised_covariance(np.eye(3))
    assert none == 0 and np.array_equal(same, np.eye(3))


def test_statistics_from_analysis_take_ranges_from_non_empty_bins():
    counts = np.array([[0, 3, 5, 0], [1, 0, 0, 2]])
    edges = np.array([[0.0, 1, 2, 3, 4], [10.0, 11, 12, 13, 14]])
    nan = np.full(2, np.nan)
    fits = GaussianFits(nan, np.array([1.9, 0.0]), np.array([0.5, 0.0]), nan, nan, [True, False])
    s = latent_statistics(np.array([2.0, 12.0]), np.eye(2), edges, counts, fits)
    assert s.low.tolist() == [1.0, 10.0] and s.high.tolist() == [3.0, 14.0]
    assert s.mu.tolist() == [1.9, 12.0] and s.sigma.tolist() == [0.5, 1.0]


def test_paths_hit_their_end_points(fitted):
    line = paths.origin_to_centre(fitted.mean, 5)
    assert_close_to_scale(line[[0, -1]], [np.zeros(D), fitted.mean], rtol=1e-6)
    plane = paths.plane_line(fitted.mean, fitted.cov, 1, 3, 90.0, 7)
    assert_close_to_scale(plane[3], fitted.mean, rtol=1e-6)
    expected_end = fitted.mean.copy()
    expected_end[3] += 3 * np.sqrt(fitted.cov[3, 3])
    np.testing.assert_allclose(plane[-1], expected_end, rtol=1e-5, atol=1e-5)
    assert np.allclose(plane[:, [0, 2, 4]], fitted.mean[[0, 2, 4]])
    components = np.eye(D)
    sweep = paths.pca_sweep(fitted.mean, components, np.full(D, 4.0), 2, 3)
    assert_close_to_scale(sweep[:, 2], fitted.mean[2] + np.array([-6.0, 0.0, 6.0]), rtol=1e-7)
    a, b = np.zeros(D), np.ones(D)
    inter = paths.interpolation(a, b, 4)
    assert_close_to_scale(inter[[0, -1]], [a, b], rtol=1e-7) and assert_close_to_scale(
        inter[1], 1 / 3, rtol=1e-7
    )


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 2.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    x = np.random.default_rng(0).standard_normal((500, 4))
    assert frechet_distance_of(x, x) == pytest.approx(0.0, abs=1e-8)


def test_precision_recall_on_constructed_point_sets():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((600, 3))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)
    collapsed = real[real[:, 0] > 1.0]  # mode collapse: a corner of the real distribution
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.35


def test_pixel_pca_features_are_deterministic_and_fitted_on_real_images():
    images = np.random.default_rng(2).integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
    f1, f2 = PixelPCAFeatures.fit(images, 10), PixelPCAFeatures.fit(images, 10)
    np.testing.assert_array_equal(f1(images), f2(images))
    assert f1(images).shape == (50, 10)
    np.testing.assert_allclose(f1(images).mean(axis=0), 0, atol=1e-9)


def test_cli_refuses_unknown_sampler_and_missing_analysis(tmp_path, capsys):
    code = main(
        [
            "generate",
            "--model",
            "m.pt",
            "--analysis",
            "a",
            "--out",
            str(tmp_path / "s"),
            "--sampler",
            "vae",
        ]
    )
    assert code == 2 and "generate.samplers must be one of" in capsys.readouterr().err
    assert all(name in SAMPLERS for name in ("uniform-box", "mvn", "gmm"))


def test_study_planes_pair_the_widest_dominant_components():
    from lsf.sampling.paths import study_planes

    fwhm = np.array([1.0, 5.0, 2.0, 4.0, 3.0, 0.5])
    dominant = np.array([False, True, True, True, True, False])
    assert study_planes(dominant, fwhm, 2) == [(1, 3), (4, 2)]
    assert study_planes(dominant, fwhm, 3) == [(1, 3), (4, 2), (1, 4)]
    # fewer than two dominant: all components ranked by width
    assert study_planes(np.eye(6, dtype=bool)[1], fwhm, 1) == [(1, 3)]


def test_study_lines_cross_the_centre_and_the_last_plane_leaves_the_core(fitted):
    from lsf.core.config import GenerateConfig
    from lsf.sampling.study import study_path_specs

    nan = np.full(D, np.nan)
    fwhm = np.arange(D, 0, -1.0)
    gaussians = GaussianFits(nan, nan, nan, fwhm, nan, np.ones(D, dtype=bool))
    fits = StoredFits(Histograms(np.zeros((D, 2)), np.zeros((D, 1))), gaussians, np.ones(D, bool))
    config = GenerateConfig(
        study_planes=2, study_angles=[0.0, 60.0], path_steps=5, study_sigmas=1.0
    )
    config.beyond_sigmas = 4.0
    specs = study_path_specs(config, fitted, fits)
    assert [m["name"] for m, _ in specs] == [
        "study_0_1_0deg",
        "study_0_1_60deg",
        "study_2_3_0deg",
        "study_2_3_60deg",
    ]
    for meta, points in specs:
        i, j = meta["components"]
        assert_close_to_scale(points[2], fitted.mean, rtol=1e-6)
        a = np.radians(meta["angle_deg"])
        step = np.zeros(D)
        step[[i, j]] = [
            np.cos(a) * np.sqrt(fitted.cov[i, i]),
            np.sin(a) * np.sqrt(fitted.cov[j, j]),
        ]
        assert_close_to_scale(points[-1], fitted.mean + meta["sigmas"] * step, rtol=1e-5)
        centred = points[:, [i, j]].astype(np.float64) - fitted.mean[[i, j]]
        inverse = np.linalg.inv(fitted.cov[np.ix_([i, j], [i, j])])
        expected = np.array([c @ inverse @ c for c in centred])
        assert_close_to_scale(meta["pair_squared_mahalanobis"], expected, rtol=1e-4)
        assert meta["beyond_core"] == bool(expected.max() > 9.0)
    assert [m["beyond_core"] for m, _ in specs] == [False, False, True, True]
    assert [m["sigmas"] for m, _ in specs] == [1.0, 1.0, 4.0, 4.0]


def test_squared_radius_of_path_steps_matches_numpy(fitted):
    line = paths.origin_to_centre(fitted.mean, 6).astype(np.float64)
    inverse = np.linalg.inv(fitted.cov)
    expected = [(p - fitted.mean) @ inverse @ (p - fitted.mean) for p in line]
    assert_close_to_scale(squared_radius(line, fitted), expected, rtol=1e-9)


def _tiny_model():
    import torch

    from lsf.core.config import ModelConfig
    from lsf.nn.model import Autoencoder
    from tests.helpers import TINY_MODEL

    torch.manual_seed(0)
    return Autoencoder(ModelConfig(**TINY_MODEL)).eval()


def test_faces_decode_origin_and_centre_with_their_distances(tmp_path):
    from PIL import Image

    from lsf.sampling.decode import decode
    from lsf.sampling.study import write_faces

    model = _tiny_model()
    rng = np.random.default_rng(1)
    a = rng.standard_normal((16, 16))
    mean, cov = rng.normal(2.0, 1.0, 16), a @ a.T / 16 + np.eye(16)
    s = LatentStatistics(mean, cov, mean, np.ones(16), mean - 1, mean + 1, 0.0)
    entry = write_faces(str(tmp_path), model, s)
    assert entry["names"] == ["origin", "centre"] and entry["dof"] == 16
    origin_d2 = mean @ np.linalg.solve(cov, mean)
    np.testing.assert_allclose(entry["squared_mahalanobis"], [origin_d2, 0], rtol=1e-5, atol=1e-4)
    strip = np.asarray(Image.open(tmp_path / entry["png"]))
    latents = np.stack([np.zeros(16), mean]).astype(np.float32)
    expected = decode(model, latents, batch_size=ORACLE_BATCH)
    assert_same_images(strip, np.concatenate(list(expected), axis=1))


def _tiny_shards(folder, n=12):
    import json

    from lsf.data.shards import images_to_table, shard_name, write_table

    folder.mkdir()
    images = np.stack([np.full((8, 8, 3), 10 * k, dtype=np.uint8) for k in range(n)])
    table = images_to_table(np.arange(n), [f"{k}.png" for k in range(n)], np.zeros(n), images)
    write_table(table, str(folder / shard_name(0)))
    manifest = {
        "n": n,
        "image_shape": [8, 8, 3],
        "shards": [{"file": shard_name(0), "rows": n, "first_id": 0}],
        "fingerprint": "test",
        "splits": {"train": n},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return str(folder), images


def test_gallery_shows_the_source_images_of_the_outlier_ids_in_order(tmp_path):
    from PIL import Image

    from lsf.sampling.study import write_gallery

    shards, images = _tiny_shards(tmp_path / "shards")
    outliers = StoredOutliers(
        rows_d2=np.array([7, 2, 99]),
        ids_d2=np.array([7, 2, 99]),
        d2=np.array([50.0, 40.0, 30.0]),
        rows_trim=np.array([3]),
        ids_trim=np.array([3]),
        trim_radius=np.array([2.5]),
        typical_rows=np.array([5, 6]),
        typical_ids=np.array([5, 6]),
        typical_d2=np.array([12.0, 11.5]),
    )
    entry = write_gallery(str(tmp_path / "out"), outliers, shards)
    d2 = entry["outliers_d2"]
    assert d2["ids"] == [7, 2] and d2["values"] == [50.0, 40.0] and d2["missing_ids"] == [99]
    strip = np.asarray(Image.open(tmp_path / "out" / d2["png"]))
    assert np.array_equal(strip, np.concatenate([images[7], images[2]], axis=1))
    assert entry["outliers_trim"]["measure"] == "trim radius"
    assert entry["typical"]["ids"] == [5, 6]


def test_the_study_preset_sets_the_study_paths_and_the_fit_ellipses():
    from lsf.core.config import config_from_mapping
    from lsf.core.presets import STUDY

    config = config_from_mapping({"preset": "study", "generate": {"study_planes": 2}})
    assert config.generate.study_planes == 2  # the file wins
    for section in ("generate", "report"):
        for key, value in STUDY[section].items():
            if key != "study_planes":
                assert getattr(getattr(config, section), key) == value
    assert config.report.ellipses == "fits" and config.generate.path_steps == 6


def test_n01_is_the_standard_normal(fitted):
    x, info = sample("n01", fitted, 100000, seed=3)
    assert info == {} and x.shape == (100000, D)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.015)
    np.testing.assert_allclose(np.cov(x, rowvar=False), np.eye(D), atol=0.015)


def test_bic_chooses_the_number_of_separated_clusters_as_sklearn_scores_them():
    from sklearn.mixture import GaussianMixture

    from lsf.sampling.samplers import choose_gmm_components

    rng = np.random.default_rng(12)
    centres = np.array([[-6.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 8.0, 0.0]])
    x = np.concatenate([rng.normal(c, 0.7, (400, 3)) for c in centres])
    k, bic = choose_gmm_components(x, 6, seed=0)
    assert k == 3 and len(bic) == 6
    for count, value in enumerate(bic, start=1):
        model = GaussianMixture(count, covariance_type="full", random_state=0, reg_covar=1e-5)
        assert value == pytest.approx(model.fit(x).bic(x), rel=1e-9)
    assert choose_gmm_components(x[:3], 6, seed=0)[0] == 1  # at most rows/2 components


def test_gmm_draws_follow_the_seed_and_the_mixture():
    from lsf.sampling.samplers import sample_gmm

    rng = np.random.default_rng(13)
    rows = np.concatenate([rng.normal(-3, 0.5, (3000, 2)), rng.normal(3, 1.0, (1000, 2))])
    gmm = fit_gmm(rows, 2, seed=0)
    a = sample_gmm(gmm, 40000, np.random.default_rng(1))
    assert np.array_equal(a, sample_gmm(gmm, 40000, np.random.default_rng(1)))
    assert not np.array_equal(a, sample_gmm(gmm, 40000, np.random.default_rng(2)))
    right = a[:, 0] > 0
    assert right.mean() == pytest.approx(gmm.weights_[gmm.means_[:, 0].argmax()], abs=0.01)
    np.testing.assert_allclose(
        a[right].mean(axis=0), gmm.means_[gmm.means_[:, 0].argmax()], atol=0.03
    )
    s = LatentStatistics(
        rows.mean(0), np.eye(2), rows.mean(0), np.ones(2), rows.min(0), rows.max(0), 0.0
    )
    x, info = sample("gmm:2", s, 100, seed=4, gmm=gmm)
    assert info["components"] == 2 and x.shape == (100, 2)


def test_sampler_names_take_a_fixed_gmm_count_and_nothing_else():
    from lsf.core.config import config_from_mapping
    from lsf.sampling.samplers import gmm_fixed_components

    config = config_from_mapping({"generate": {"samplers": ["gmm", "gmm:4", "n01"]}})
    assert config.generate.samplers == ["gmm", "gmm:4", "n01"]
    assert [gmm_fixed_components(n) for n in ("gmm", "gmm:4", "mvn")] == [None, 4, None]
    for bad in ("gmm:0", "gmm:x", "mvn:3", "gmm:"):
        with pytest.raises(LsfError, match=r"generate.samplers must be one of .* or gmm:K"):
            config_from_mapping({"generate": {"samplers": [bad]}})


def test_gmm_takes_bic_from_the_regions_pass_where_the_analysis_has_one(monkeypatch):
    from types import SimpleNamespace

    from lsf.core.config import GenerateConfig
    from lsf.sampling import rows as sampler_rows

    def no_search(*args, **kwargs):
        raise AssertionError("BIC refitted although the regions pass has its curve")

    monkeypatch.setattr(sampler_rows, "choose_gmm_components", no_search)
    curve = np.array([250.0, 240.0, 230.0, 235.0, 228.0, np.nan, np.nan, np.nan])
    fragmentation = SimpleNamespace(bic=curve, components=5)
    config = GenerateConfig(gmm_max_components=4)
    facts = sampler_rows.Mixtures(config, None, "unused", fragmentation).bic_components()
    assert facts["bic_components"] == 3 and facts["bic_max_components"] == 4  # k = 5 not searched
    assert facts["gmm_max_components"] == 4 and facts["bic_pca_dims"] == 5
    assert facts["bic"] == [250.0, 240.0, 230.0, 235.0] and "regions pass" in facts["bic_source"]
    wide = sampler_rows.shared_bic_choice(fragmentation, 10)
    assert wide["bic_components"] == int(np.nanargmin(curve)) + 1 == 5
    assert wide["bic"][5:] == [None, None, None] and wide["bic_max_components"] == 8


def test_gmm_without_regions_fits_its_own_bic_search_on_pca_coordinates(monkeypatch):
    from lsf.core.config import GenerateConfig
    from lsf.sampling import rows as sampler_rows
    from lsf.stats.pca import pca_from_covariance

    rng = np.random.default_rng(14)
    rows = np.concatenate([rng.normal(c, 0.5, (300, 6)) for c in (-4.0, 0.0, 4.0)])
    monkeypatch.setattr(sampler_rows, "sample_rows", lambda url, n, seed: (None, rows))
    pca = pca_from_covariance(rows.mean(0), np.cov(rows, rowvar=False))
    config = GenerateConfig(gmm_max_components=5, gmm_pca_dims=2)
    facts = sampler_rows.Mixtures(config, pca, "unused").bic_components()
    assert facts["bic_components"] == 3 and facts["bic_pca_dims"] == 2
    assert facts["bic_max_components"] == 5 and "fitted here on 900" in facts["bic_source"]
