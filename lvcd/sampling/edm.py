"""EDM discretization, v-prediction preconditioning and the Euler sampler (Karras et al. 2022).

Implements exactly what LVCD's official inference loop does (lvcd-reference.md §3.5): sgm's `EDMDiscretization`
sigmas computed in fp32 with an appended 0, `VScalingWithEDMcNoise` preconditioning, and a deterministic Euler loop
(no churn, no classifier-free guidance). The loop is stateless: everything it needs is the explicit `sigmas` tensor
and the denoiser callable; a `blend` seam lets the caller overwrite the denoised estimate before each update
(Overlapped Blending). It never imports a model class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class EDMConfig:
    sigma_min: float = 0.002  # SVD img2vid / LVCD `EDMDiscretization` lower end
    sigma_max: float = 700.0  # SVD img2vid / LVCD upper end (sgm config, not diffusers' 700.0 default by accident)
    rho: float = 7.0  # Karras et al. (2022) eq. 5 default, used by sgm

    def __post_init__(self):
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"`sigma_min` must be in (0, sigma_max) (got {self.sigma_min}, {self.sigma_max}).")


def edm_sigmas(
    num_steps: int, sigma_min: float = 0.002, sigma_max: float = 700.0, rho: float = 7.0, device=None
) -> torch.Tensor:
    """Karras et al. (2022) eq. 5 noise levels, descending, in fp32, with a final 0 appended: shape [num_steps + 1]."""
    if num_steps < 1:
        raise ValueError(f"`num_inference_steps` must be >= 1 (got {num_steps}).")
    ramp = torch.linspace(0, 1, num_steps, device=device)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def get_scalings(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """v-prediction preconditioning with EDM's c_noise (sgm `VScalingWithEDMcNoise`): c_skip, c_out, c_in, c_noise."""
    c_skip = 1.0 / (sigma**2 + 1.0)
    c_out = -sigma / (sigma**2 + 1.0) ** 0.5
    c_in = 1.0 / (sigma**2 + 1.0) ** 0.5
    c_noise = 0.25 * sigma.log()
    return c_skip, c_out, c_in, c_noise


def precondition(
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """Denoised estimate D(x; sigma) = F(c_in x, c_noise) c_out + x c_skip (the official operation order)."""
    c_skip, c_out, c_in, c_noise = get_scalings(sigma)
    return model_fn(x * c_in, c_noise) * c_out + x * c_skip


def noise_scale(sigmas: torch.Tensor) -> torch.Tensor:
    """Factor that brings unit noise to the first noise level: sqrt(1 + sigma_0^2) (sgm `prepare_sampling_loop`)."""
    return torch.sqrt(1.0 + sigmas[0] ** 2.0)


@torch.no_grad()
def sample_euler(
    denoiser: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    blend: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
    callback: Callable[[dict], None] | None = None,
    disable: bool | None = None,
) -> torch.Tensor:
    """Implements Algorithm 2 (Euler steps) from Karras et al. (2022), gamma = 0.

    `x` is the already-scaled initial state (unit noise * `noise_scale(sigmas)`); `denoiser(x, sigma, i)` returns the
    denoised estimate D. `blend(i, D)` may return a modified D before the update (Overlapped Blending).
    `callback` receives {"i", "x", "sigma", "denoised" (raw D), "blended"} after each step.
    """
    from tqdm.auto import tqdm

    for i in tqdm(range(len(sigmas) - 1), disable=True if disable is None else disable, leave=False):
        sigma = sigmas[i]
        raw = denoiser(x, sigma, i)
        d_used = blend(i, raw) if blend is not None else raw
        d = (x - d_used) / sigma  # to_d
        x = x + (sigmas[i + 1] - sigma) * d
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sigma, "denoised": raw, "blended": d_used})
    return x
