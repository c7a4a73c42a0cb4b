"""The regions' images of `lsf generate`: gap paths and their per-step density and d2
against a direct evaluation with numpy, the pairs chosen, and the written centre faces,
nearest source images and decoded gap strips against the decoder and the shards."""

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from lsf.core.config import GenerateConfig, ModelConfig
from lsf.data.images import image_grid
from lsf.data.shards import read_images
from lsf.sampling import region_images as ri
from tests.explore_inputs import write_shards
from tests.regions_inputs import fragmentation_of, separated_normals

D = 6


@pytest.fixture(scope="module")
def fragmentation():
    z, labels = separated_normals(1500, D, 3, seed=2)
    return fragmentation_of(z, labels, k=3)


def gaussian_pdf(x, mean, cov):
    """The normal density written out (the oracle)."""
    diff = x - mean
    d2 = np.einsum("ij,ij->i", diff @ np.linalg.inv(cov), diff)
    return np.exp(-0.5 * d2) / np.sqrt((2 * np.pi) ** len(mean) * np.linalg.det(cov))


def mixture_pdf(f, scores):
    return sum(
        w * gaussian_pdf(scores, m, c)
        for w, m, c in zip(f.mixture_weights, f.mixture_means, f.mixture_covariances, strict=True)
    )


def test_mixture_log_density_is_the_log_of_the_weighted_normal_sum(fragmentation):
    f = fragmentation
    scores = np.random.default_rng(0).normal(size=(40, 3)) * 4
    got = ri.mixture_log_density(scores, f.mixture_weights, f.mixture_means, f.mixture_covariances)
    np.testing.assert_allclose(got, np.log(mixture_pdf(f, scores)), rtol=1e-9)
    one = ri.mixture_log_density(
        scores[0], f.mixture_weights, f.mixture_means, f.mixture_covariances
    )
    np.testing.assert_allclose(one, got[:1], rtol=1e-12)


def test_gap_path_runs_between_centres_with_each_steps_density_and_nearest_region(fragmentation):
    f = fragmentation
    points, labels = ri.gap_path(f, 0, 2, 7)
    assert points.dtype == np.float32 and points.shape == (7, D)
    np.testing.assert_allclose(points[0], f.means[0], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(points[-1], f.means[2], rtol=1e-6, atol=1e-5)
    t = np.linspace(0, 1, 7)[:, None]
    exact = (1 - t) * f.means[0] + t * f.means[2]
    scores = (exact - f.pca_mean) @ f.pca_components.T
    smaller_peak = min(np.exp(f.peaks[0]), np.exp(f.peaks[2]))
    np.testing.assert_allclose(labels["density"], mixture_pdf(f, scores) / smaller_peak, rtol=1e-8)
    d2 = np.stack(
        [
            np.einsum("ij,ij->i", (scores - m) @ np.linalg.inv(c), scores - m)
            for m, c in zip(f.score_means, f.score_covariances, strict=True)
        ],
        axis=1,
    )
    np.testing.assert_allclose(labels["d2"], d2.min(axis=1), rtol=1e-8)
    expected = [int(r) if d2[k, r] <= f.radius2[r] else -1 for k, r in enumerate(d2.argmin(1))]
    assert labels["region"] == expected
    assert labels["region"][0] == 0 and labels["region"][-1] == 2 and max(labels["d2"]) > 9
    assert min(labels["density"]) < 0.01  # 8 sigma apart: the middle is empty


def test_gap_density_of_the_generated_truth_matches_the_gap_field(fragmentation):
    f = fragmentation
    # the test data's gap is the minimum on 201 steps of the segment between score means;
    # the latent segment projects onto the same segment when K spans the centres
    _, labels = ri.gap_path(f, 0, 1, 201)
    assert min(labels["density"]) == pytest.approx(f.gap[0, 1], rel=0.05)


def test_peaks_fall_back_to_the_density_at_the_regions_component_means(fragmentation):
    f = SimpleNamespace(**{**vars(fragmentation), "peaks": None, "regions": 3})
    peaks = ri.region_log_peaks(f)
    np.testing.assert_allclose(peaks, np.log(mixture_pdf(f, f.mixture_means)), rtol=1e-9)


def test_gap_pairs_are_the_least_separated_first():
    separation = np.array([[0, 5.0, 2.0, np.nan], [5, 0, 9, 1], [2, 9, 0, 3], [np.nan, 1, 3, 0]])
    assert ri.gap_pairs(separation, 3) == [(1, 3), (0, 2), (2, 3)]
    assert ri.gap_pairs(separation, 10)[-1] == (0, 3)
    assert ri.gap_pairs(separation[:1, :1], 5) == []


def strip_images(path, count):
    strip = np.asarray(Image.open(path).convert("RGB"))
    width = strip.shape[1] // count
    return np.stack([strip[:, k * width : (k + 1) * width] for k in range(count)])


def test_written_images_are_the_decoded_centres_sources_and_gap_steps(fragmentation, tmp_path):
    import torch

    from lsf.nn.model import Autoencoder
    from lsf.sampling.decode import decode

    torch.manual_seed(0)
    model = Autoencoder(ModelConfig(image_size=16, widths=[4, 8], latent_dim=D)).eval()
    images = np.random.default_rng(1).integers(0, 255, size=(1500, 16, 16, 3), dtype=np.uint8)
    shards = write_shards(tmp_path / "shards", images, rows_per_shard=600)
    f = fragmentation
    f.nearest_ids = f.nearest_ids.copy()
    f.nearest_ids[1, -1] = -1  # padding
    config = GenerateConfig(region_images=4, gap_paths=2, gap_steps=5)
    entry = ri.write_region_images(str(tmp_path / "out"), model, f, shards, config)
    out = tmp_path / "out"
    assert entry["regions"] == 3 and entry["centres"]["shares"] == pytest.approx(f.shares)
    centres = strip_images(out / entry["centres"]["png"], 3)
    np.testing.assert_array_equal(centres, decode(model, f.means.astype(np.float32)))
    for row in entry["nearest"]:
        expected = [int(i) for i in f.nearest_ids[row["region"], :4] if i >= 0]
        assert row["ids"] == expected and row["missing_ids"] == []
        found, source = read_images(shards, np.array(expected))
        order = [list(found).index(i) for i in expected]
        np.testing.assert_array_equal(strip_images(out / row["png"], len(expected)), source[order])
    pairs = [(g["a"], g["b"]) for g in entry["gaps"]]
    assert pairs == ri.gap_pairs(f.separation, 2)
    for gap in entry["gaps"]:
        points = np.load(out / gap["npy"])
        np.testing.assert_array_equal(points, ri.gap_path(f, gap["a"], gap["b"], 5)[0])
        np.testing.assert_array_equal(strip_images(out / gap["png"], 5), decode(model, points))
        assert gap["gap"] == f.gap[gap["a"], gap["b"]] and len(gap["density"]) == 5
    assert image_grid(decode(model, points), columns=5).shape[1] == 5 * 16


def test_a_region_with_nan_moments_gets_a_blank_centre_and_no_gap_path(fragmentation, tmp_path):
    import copy

    import torch

    from lsf.nn.model import Autoencoder

    torch.manual_seed(0)
    model = Autoencoder(ModelConfig(image_size=16, widths=[4, 8], latent_dim=D)).eval()
    f = copy.deepcopy(fragmentation)
    f.means = f.means.copy()
    f.means[1] = np.nan  # a region of fewer than 2 rows
    config = GenerateConfig(region_images=0, gap_paths=3, gap_steps=4)
    entry = ri.write_region_images(str(tmp_path), model, f, "unused", config)
    assert entry["centres"]["decoded"] == [True, False, True] and entry["nearest"] == []
    assert [(g["a"], g["b"]) for g in entry["gaps"]] == [(0, 2)]
    assert (strip_images(tmp_path / entry["centres"]["png"], 3)[1] == 255).all()
