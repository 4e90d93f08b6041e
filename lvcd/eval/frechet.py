"""Fréchet distance between Gaussians fitted to network features: FID (Heusel et al., 2017, Inception-v3 pool features)
and FVD (Unterthiner et al., 2018, I3D Kinetics-400 logits), both reported by LVCD §6.1.

    d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

The trace of the matrix square root is computed from the eigenvalues of the symmetric S1^(1/2) S2 S1^(1/2) (the same
quantity pytorch-fid's `calculate_frechet_distance` gets from scipy's `sqrtm(S1 S2)`, and the form torch-fidelity and
the FVD reference use), which stays fast and real for the singular covariances of short clips. Feature statistics are
accumulated in a streaming way (`RunningGaussian`) so no feature matrix is kept. `FeatureExtractor` is the protocol the
network wrappers (`lvcd.eval.inception`, `lvcd.eval.i3d`) implement; the networks themselves need weights from a
user-given path.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

FVD_CLIP_LENGTH = 16  # frames per clip in the reference FVD (Unterthiner et al., 2018)


class WeightsUnavailableError(ValueError):
    """Weights given for a metric cannot be used (missing file, wrong format, wrong keys); the message says which file
    is expected. Metrics whose weights are simply not given are reported unavailable instead of raising this."""


def is_torchscript_archive(path) -> bool:
    """True when `path` is a TorchScript zip archive (has `constants.pkl`), as opposed to a pickled state dict."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(name.endswith("constants.pkl") for name in zf.namelist())


def load_torchscript(path, what: str, missing_hint: str, not_torchscript_hint: str):
    """Load a user-given TorchScript network (`what`, e.g. "I3D") on the CPU, with errors that name the file and say
    what is expected: `missing_hint` when the file is missing, `not_torchscript_hint` when it is not TorchScript."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"{what} weights {path} not found{missing_hint}")
    if not is_torchscript_archive(path):
        raise WeightsUnavailableError(f"{path} is not a TorchScript archive. {not_torchscript_hint}")
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise WeightsUnavailableError(f"cannot load TorchScript {what} from {path} ({type(e).__name__}: {e}).") from e


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps a batch of inputs to feature vectors.

    `lvcd.eval` calls image extractors (FID) with float32 [B, H, W, 3] RGB batches in [0, 1] and video extractors (FVD)
    with float32 [B, T, H, W, 3] clips in [0, 1]; each returns a float [B, dim] array.
    """

    name: str
    dim: int

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"mean and covariance shapes do not match: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {sigma1.shape}, "
            f"sigma2 {sigma2.shape}; both Gaussians need the same feature dimension."
        )
    diff = mu1 - mu2
    # Tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of S1^(1/2) S2 S1^(1/2)), a symmetric PSD matrix with the same
    # spectrum as S1 S2; symmetric eigensolvers are fast and stable even when the covariances are singular
    # (fewer samples than feature dimensions), where scipy's general `sqrtm` takes minutes at 2048 dimensions.
    w1, v1 = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T
    inner = root1 @ ((sigma2 + sigma2.T) / 2) @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    scale = max(float(np.max(np.abs(eig))) if eig.size else 0.0, 1e-300)
    if np.min(eig) < -1e-6 * scale:
        warnings.warn(
            f"Fréchet distance: S1^(1/2) S2 S1^(1/2) has a negative eigenvalue {np.min(eig):.3g}; a covariance is "
            "not positive semi-definite. Clipping it to 0.",
            RuntimeWarning,
            stacklevel=2,
        )
    tr_covmean = float(np.sum(np.sqrt(np.clip(eig, 0, None))))
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


class RunningGaussian:
    """Streaming mean and (unbiased) covariance of feature vectors, in float64."""

    def __init__(self, dim: int | None = None) -> None:
        self.n = 0
        self._sum: np.ndarray | None = None if dim is None else np.zeros(dim)
        self._outer: np.ndarray | None = None if dim is None else np.zeros((dim, dim))

    def update(self, features: np.ndarray) -> None:
        feats = np.asarray(features, np.float64)
        if feats.ndim == 1:
            feats = feats[None]
        if feats.ndim != 2:
            raise ValueError(f"features must be [N, dim]; got shape {feats.shape}.")
        if self._sum is None:
            self._sum, self._outer = np.zeros(feats.shape[1]), np.zeros((feats.shape[1],) * 2)
        if feats.shape[1] != self._sum.shape[0]:
            raise ValueError(f"feature dimension changed from {self._sum.shape[0]} to {feats.shape[1]}.")
        self.n += feats.shape[0]
        self._sum += feats.sum(0)
        self._outer += feats.T @ feats

    @property
    def mean(self) -> np.ndarray:
        if self.n == 0:
            raise ValueError("no features were added; the Gaussian is undefined.")
        return self._sum / self.n

    @property
    def cov(self) -> np.ndarray:
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 feature vectors; got {self.n}.")
        mu = self.mean
        return (self._outer - self.n * np.outer(mu, mu)) / (self.n - 1)


def frechet_distance_from_features(feats1: np.ndarray, feats2: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two [N, dim] feature sets (np.cov, unbiased)."""
    g1, g2 = RunningGaussian(), RunningGaussian()
    g1.update(feats1)
    g2.update(feats2)
    return frechet_distance(g1.mean, g1.cov, g2.mean, g2.cov)
