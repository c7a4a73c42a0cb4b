import numpy as np
import pytest

from lsf.data.synthetic import (
    N_PARAMETERS,
    face_parameters,
    parameter_correlation,
    render_faces,
    synthetic_faces,
)


def test_same_seed_gives_same_images_and_other_seed_differs():
    a = synthetic_faces(0, 20, seed=7, size=32)
    b = synthetic_faces(0, 20, seed=7, size=32)
    c = synthetic_faces(0, 20, seed=8, size=32)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_image_k_is_the_same_whatever_range_renders_it():
    whole = face_parameters(0, 3000, seed=1)
    assert np.array_equal(face_parameters(1000, 2100, seed=1), whole[1000:2100])
    assert np.array_equal(face_parameters(5, 6, seed=1), whole[5:6])
    assert np.array_equal(
        synthetic_faces(1020, 1030, seed=1, size=16), render_faces(whole[1020:1030], 16)
    )


def test_parameter_covariance_matches_the_configured_correlation():
    params = face_parameters(0, 60000, seed=0)
    sample = np.cov(params, rowvar=False)
    configured = parameter_correlation()
    assert params.shape == (60000, N_PARAMETERS)
    # Standard error of a sample covariance entry is <= sqrt(2/n) ~ 0.006.
    np.testing.assert_allclose(sample, configured, atol=0.03)
    assert np.all(np.linalg.eigvalsh(configured) > 0)


@pytest.mark.parametrize("size", [64, 96, 128])
def test_faces_render_at_any_size_with_skin_in_the_middle(size):
    images = synthetic_faces(0, 8, seed=0, size=size)
    assert images.shape == (8, size, size, 3) and images.dtype == np.uint8
    centre = images[:, size // 2 - 2 : size // 2 + 2, size // 2 - 2 : size // 2 + 2].mean(
        axis=(1, 2)
    )
    assert np.all(centre[:, 0] > centre[:, 2])  # skin: more red than blue
    assert images.std() > 20  # not a flat image


def test_rendering_is_antialiased():
    image = synthetic_faces(0, 1, seed=0, size=64)[0].astype(int)
    # Edges blend: intermediate values exist between neighbouring distinct colours.
    levels = np.unique(image[..., 0])
    assert len(levels) > 60
