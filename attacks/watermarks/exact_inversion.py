"""Exact DDIM inversion by fixed-point iteration (after Hong et al. 2024, "On Exact Inversion of
DPM-Solvers", and ReNoise, Garibi et al. 2024): each inversion step solves the DDIM update for the noisier
latent instead of approximating the noise prediction at the unknown point by the one at the known point.

A DDIM generation step goes from ``x_t`` (noisier) to ``x_p`` (``p = t - 1000 / steps``)::

    x_p = sqrt(a_p) * (x_t - sqrt(1 - a_t) * eps(x_t, t)) / sqrt(a_t) + sqrt(1 - a_p) * eps(x_t, t)

Plain DDIM inversion evaluates ``eps`` at ``x_p`` and solves for ``x_t`` in one go; that is exact only in
the limit of small steps. Here ``x_t`` is refined by ``x_t <- G(x_p, eps(x_t, t))`` (``G`` the update above
solved for ``x_t``), starting from plain inversion's estimate, so that one generation step from the result
lands on ``x_p`` again. The noise prediction may be guided: inverting with the prompt and guidance scale
that generated an image follows the trajectory of its generation, which the empty prompt at guidance 1
(the Tree-Ring paper's detector) does not.

The timesteps are the generating ``DDIMScheduler``'s own, so a generation of ``steps`` steps is inverted
step for step.
"""

from __future__ import annotations

import torch

__all__ = ["exact_invert_latents", "guided_noise"]


@torch.no_grad()
def guided_noise(
    unet,
    latents: torch.Tensor,
    t: int,
    cond: torch.Tensor,
    uncond: torch.Tensor | None,
    guidance_scale: float,
) -> torch.Tensor:
    """Classifier-free guided noise prediction ``(B, 4, h, w)`` (``uncond=None`` or guidance 1: ``cond`` alone)."""
    if uncond is None or guidance_scale == 1.0:
        return unet(latents, t, encoder_hidden_states=cond).sample
    both = unet(torch.cat([latents, latents]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
    eps_u, eps_c = both.chunk(2)  # (B, 4, h, w) each
    return eps_u + guidance_scale * (eps_c - eps_u)


def _noisier(known: torch.Tensor, eps: torch.Tensor, a_t: torch.Tensor, a_p: torch.Tensor) -> torch.Tensor:
    """The DDIM step ``x_t -> x_p`` solved for ``x_t`` given its noise prediction ``eps`` (all `(B, 4, h, w)`)."""
    x0 = (known - (1 - a_p).sqrt() * eps) / a_p.sqrt()  # the clean latent the step predicts
    return a_t.sqrt() * x0 + (1 - a_t).sqrt() * eps


@torch.no_grad()
def exact_invert_latents(
    pipe,
    latents: torch.Tensor,
    num_inference_steps: int,
    cond: torch.Tensor,
    uncond: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    iterations: int = 0,
) -> torch.Tensor:
    """Invert clean latents to the initial noise of a DDIM generation.

    Args:
        pipe: a diffusers Stable Diffusion pipeline with a ``DDIMScheduler`` (the generating one).
        latents (`torch.Tensor` of shape `(B, 4, h, w)`): scaled clean latents.
        num_inference_steps: the generation's DDIM steps.
        cond (`torch.Tensor` of shape `(B, 77, D)`): text states of the prompt the inversion follows.
        uncond (`torch.Tensor` of shape `(B, 77, D)`, optional): the unconditional states for guidance.
        guidance_scale: classifier-free guidance of the inversion (1: ``cond`` alone).
        iterations: fixed-point refinements per step (0: plain DDIM inversion).

    Returns:
        `torch.Tensor` of shape `(B, 4, h, w)`: the estimated initial noise, float32.
    """
    from diffusers import DDIMScheduler

    if iterations < 0:
        raise ValueError(f"fixed-point iterations must be >= 0, got {iterations}")
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(num_inference_steps)
    gap = scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    alphas = scheduler.alphas_cumprod
    unet = pipe.unet
    x = latents.to(device=unet.device, dtype=unet.dtype)  # (B, 4, h, w)
    for t in reversed(scheduler.timesteps.tolist()):  # the generation's steps, last first
        a_t = alphas[t]
        a_p = alphas[t - gap] if t - gap >= 0 else scheduler.final_alpha_cumprod
        known = x  # (B, 4, h, w) at the less noisy timestep
        x = _noisier(known, guided_noise(unet, known, t, cond, uncond, guidance_scale), a_t, a_p)
        for _ in range(iterations):  # fixed point: the noise predicted at the unknown latent itself
            x = _noisier(known, guided_noise(unet, x, t, cond, uncond, guidance_scale), a_t, a_p)
    return x.float()
