"""Fréchet distance against closed forms; streaming Gaussian statistics against numpy."""

import numpy as np
import pytest

from lvcd.eval import RunningGaussian, frechet_distance, frechet_distance_from_features


def test_one_dimensional_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) = (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2)


def test_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)


def test_commuting_covariances_closed_form():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    l1, l2 = rng.uniform(0.5, 3, 5), rng.uniform(0.5, 3, 5)
    s1, s2 = q @ np.diag(l1) @ q.T, q @ np.diag(l2) @ q.T  # same eigenvectors
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_identical_gaussians_and_symmetry():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + np.eye(6), np.cov(rng.normal(size=(50, 6)), rowvar=False)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-8)


def test_running_gaussian_matches_numpy_and_distance_grows_with_shift():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 4))
    g = RunningGaussian()
    for chunk in np.array_split(x, 7):
        g.update(chunk)
    np.testing.assert_allclose(g.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(g.cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
    y = rng.normal(size=(300, 4))
    near, far = frechet_distance_from_features(x, y + 0.1), frechet_distance_from_features(x, y + 1.0)
    assert near < far
    # mean shift of 1 in each of 4 dims contributes ~4
    assert far == pytest.approx(4.0, abs=0.6)


def test_shape_errors():
    with pytest.raises(ValueError, match="same feature dimension"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="at least 2"):
        g = RunningGaussian()
        g.update(np.zeros((1, 3)))
        _ = g.cov
