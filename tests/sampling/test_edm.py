"""The functional EDM sampler: sigmas, preconditioning, and parity with diffusers' EulerDiscreteScheduler."""

import math

import pytest
import torch
from diffusers import EulerDiscreteScheduler

from lvcd.sampling import edm_sigmas, get_scalings, noise_scale, precondition, sample_euler

SVD_SCHEDULER = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "use_karras_sigmas": True,
}


def test_sigmas_descend_and_end_in_zero():
    s = edm_sigmas(25)
    assert s.shape == (26,) and s.dtype == torch.float32
    assert s[-1] == 0 and torch.all(s[:-1] > 0)
    assert torch.all(s[1:] < s[:-1])
    assert math.isclose(s[0].item(), 700.0, rel_tol=1e-6) and math.isclose(s[-2].item(), 0.002, rel_tol=1e-5)


def test_sigmas_match_diffusers_karras_schedule():
    sched = EulerDiscreteScheduler.from_config(SVD_SCHEDULER)
    sched.set_timesteps(25)
    torch.testing.assert_close(edm_sigmas(25), sched.sigmas.float(), rtol=1e-5, atol=0)


def test_scalings_are_v_prediction_with_edm_cnoise():
    sigma = torch.tensor([0.5, 3.0, 700.0])
    c_skip, c_out, c_in, c_noise = get_scalings(sigma)
    torch.testing.assert_close(c_skip, 1 / (sigma**2 + 1))
    torch.testing.assert_close(c_out, -sigma / torch.sqrt(sigma**2 + 1))
    torch.testing.assert_close(c_in, 1 / torch.sqrt(sigma**2 + 1))
    torch.testing.assert_close(c_noise, torch.log(sigma) / 4)


def test_precondition_recovers_x0_from_the_ideal_network_output():
    x0, eps, s = torch.randn(3, 4), torch.randn(3, 4), torch.tensor(2.0)
    x = x0 + s * eps
    # the network output F that makes D == x0: F = (x0 - c_skip x) / c_out
    c_skip, c_out, _, _ = get_scalings(s)
    ideal = (x0 - c_skip * x) / c_out
    torch.testing.assert_close(precondition(lambda xin, cn: ideal, x, s), x0)


def test_euler_matches_diffusers_scheduler_step():
    """Same dummy denoiser, same sigmas: the stateless loop equals EulerDiscreteScheduler.step with v-prediction."""
    torch.manual_seed(0)
    sched = EulerDiscreteScheduler.from_config(SVD_SCHEDULER)
    sched.set_timesteps(8)
    sigmas = sched.sigmas.float()
    w = torch.randn(4, 4) * 0.1

    def net(x_in, c_noise):  # a fixed "v-prediction network" of the scaled input and noise level
        return torch.tanh(x_in @ w) + 0.1 * c_noise

    x_t = torch.randn(2, 4)
    x = x_t * noise_scale(sigmas)
    ours = sample_euler(lambda x, s, i: precondition(net, x, s), x.clone(), sigmas)

    # diffusers: model output is the v-prediction; it computes x0 = c_out' * v + c_skip * x with c_out' = -sigma/...
    y = x.clone()
    for t in sched.timesteps:
        y_in = sched.scale_model_input(y, t)
        c_noise = t.float()
        v = net(y_in, c_noise)
        y = sched.step(v, t, y).prev_sample
    torch.testing.assert_close(ours, y.float(), rtol=1e-4, atol=1e-5)


def test_blend_seam_replaces_denoised_before_update():
    sigmas = edm_sigmas(5)
    target = torch.full((2, 3), 0.25)
    seen = []

    def blend(i, d):
        d = d.clone()
        d[0] = target[0]
        return d

    x = torch.randn(2, 3) * noise_scale(sigmas)
    out = sample_euler(lambda x, s, i: torch.zeros_like(x), x, sigmas, blend=blend, callback=seen.append)
    # the final step goes to sigma 0, so the result is the last (blended) denoised estimate
    torch.testing.assert_close(out[0], target[0])
    torch.testing.assert_close(out[1], torch.zeros(3))
    assert [c["i"] for c in seen] == list(range(5))
    assert torch.equal(seen[0]["denoised"], torch.zeros(2, 3))  # callback sees the raw estimate


@pytest.mark.parametrize("n", [0, -1])
def test_bad_step_count_teaches(n):
    with pytest.raises(ValueError, match="num_inference_steps"):
        edm_sigmas(n)
