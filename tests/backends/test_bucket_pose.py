"""The object tracker's 2x2 pose algebra (`bucket_pose._solve`, `_constrain`), written out by hand for speed, against
the same definitions computed with numpy.linalg (least squares with a ridge towards L0; SVD polar factor)."""

import numpy as np
import pytest

from lvcd.backends.bucket_pose import AREA_STEP, _constrain, _solve


def _solve_ref(p, q, L0, lam):
    """argmin_A sum |A [p, 1] - q|^2 + mu |L - L0|^2, as one ridge least-squares problem."""
    m = p.mean(axis=0)
    pc = p - m
    mu = lam * np.trace(pc.T @ pc) / 2 + 1e-6
    X = np.concatenate([p, np.ones((len(p), 1))], 1)  # [N, 3]
    reg = np.sqrt(mu) * np.eye(3)[:2]  # rows penalising the linear part only
    Xa = np.concatenate([X, reg])
    Ya = np.concatenate([q, np.sqrt(mu) * L0.T])
    return np.linalg.lstsq(Xa, Ya, rcond=None)[0].T  # [2, 3]


def _constrain_ref(A, L0):
    L = A[:, :2]
    a0, a = np.sqrt(abs(np.linalg.det(L0))), np.sqrt(abs(np.linalg.det(L)))
    L = L * np.clip(a, a0 * (1 - AREA_STEP), a0 * (1 + AREA_STEP)) / a
    U, _, Vt = np.linalg.svd(L)
    R = U @ Vt
    if np.linalg.det(R) < 0:
        return A
    ang = float(np.clip(np.arctan2(R[1, 0], R[0, 0]), -0.5, 0.5))
    R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    out = A.copy()
    out[:, :2] = R * np.clip(np.diag(R.T @ L), 0.7, 1.4)[None, :]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_solve_is_the_ridge_least_squares_fit(seed):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(80, 2)) * 40 + 300
    A_true = np.concatenate([np.eye(2) + rng.normal(size=(2, 2)) * 0.2, rng.normal(size=(2, 1)) * 10], 1)
    q = p @ A_true[:, :2].T + A_true[:, 2] + rng.normal(size=p.shape)
    L0 = np.eye(2) + rng.normal(size=(2, 2)) * 0.05
    np.testing.assert_allclose(_solve(p, q, L0, 0.05), _solve_ref(p, q, L0, 0.05), rtol=0, atol=1e-6)


def test_constrain_matches_the_svd_polar_factor_and_its_limits():
    rng = np.random.default_rng(0)
    mirrored = 0
    for _ in range(500):
        L0 = np.eye(2) * rng.uniform(0.8, 1.2) + rng.normal(size=(2, 2)) * 0.05
        A = np.concatenate(
            [np.eye(2) * rng.uniform(0.5, 1.6) + rng.normal(size=(2, 2)) * 0.4, rng.normal(size=(2, 1))], 1
        )
        if rng.random() < 0.2:
            A[:, 1] *= -1
        want = _constrain_ref(A, L0)
        got = _constrain(A, L0)
        mirrored += want is A
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert mirrored > 0  # the mirrored case (left as it is) was exercised
    big = np.array([[np.cos(1.0), -np.sin(1.0), 5.0], [np.sin(1.0), np.cos(1.0), 7.0]]) * 2.0
    out = _constrain(big, np.eye(2))
    assert np.isclose(np.arctan2(out[1, 0], out[0, 0]), 0.5)  # rotation clipped
    assert tuple(out[:, 2]) == (10.0, 14.0)  # the shift is left to the caller
    grown = np.array([[np.cos(0.3), -np.sin(0.3), 0.0], [np.sin(0.3), np.cos(0.3), 0.0]]) * 2.0
    out = _constrain(grown, np.eye(2))
    assert np.isclose(np.arctan2(out[1, 0], out[0, 0]), 0.3)
    assert np.isclose(np.linalg.det(out[:, :2]), (1 + AREA_STEP) ** 2)  # a size that jumps: clipped to the step


def test_valid_positions_are_the_open_frame():
    """track.valid: -1 < x < w and -1 < y < h, bounds excluded, for float32 chains and others alike."""
    from lvcd.backends import bucket_track as track

    h, w = 3, 4
    f32 = np.float32

    def edges(n):  # each bound, the nearest float32 values either side, far off, NaN
        return [
            f32(-1),
            np.nextafter(f32(-1), f32(0)),
            np.nextafter(f32(-1), f32(-2)),
            f32(0),
            np.nextafter(f32(n), f32(0)),
            f32(n),
            f32(-1e4),
            f32("nan"),
        ]

    for x in edges(w):
        for y in edges(h):
            chain = np.zeros((h, w, 2), np.float32)
            chain[1, 2] = (x, y)
            want = bool(-1 < x < w and -1 < y < h)
            for c in (chain, chain.astype(np.float64)):
                got = track.valid(c)
                assert got.dtype == bool and got[1, 2] == want and got[0, 0], (x, y, c.dtype)


def test_in_box_is_the_half_open_box_for_signed_points():
    """track.in_box: 0 <= x < w and 0 <= y < h for signed integer points of any shape (negatives never inside)."""
    from lvcd.backends import bucket_track as track

    for dt, big in ((np.int64, 2**40), (np.int32, 2**30)):
        v = np.array([-big, -1, 0, 1, 2, 3, 4, big], dt)
        x, y = np.meshgrid(v, v)
        want = (x >= 0) & (x < 4) & (y >= 0) & (y < 3)
        assert want.sum() == 12
        np.testing.assert_array_equal(track.in_box(x, y, 4, 3), want)
