"""The categorical side of GCDP: absorbing-state ("mask") diffusion over per-position classes, stepped beside
a Gaussian scheduler (DDIM) on the same timesteps.

Forward process: at step ``t`` each position is replaced by ``[MASK]`` (id ``num_classes``) with probability
``gamma(t)``, rising from ~0 at ``t = 0`` to 1 at ``t = T - 1``. Reverse step ``t -> s``: each masked
position is revealed with probability ``(gamma(t) - gamma(s)) / gamma(t)``, taking a class drawn from the
denoiser's predicted distribution of the clean layout; revealed positions stay (the absorbing posterior).
With ``reveal_order="confidence"`` (MaskGIT's order) the same expected number of masked positions is revealed,
``round(masked * (gamma(t) - gamma(s)) / gamma(t))`` per image, taking the positions whose predicted class is
most probable instead of a random draw.

Example:
    >>> import torch
    >>> sched = AbsorbingCategoricalScheduler(num_classes=8)
    >>> layout = torch.zeros(2, 4, 4, dtype=torch.long)
    >>> masked = sched.add_noise(layout, torch.tensor([999, 0]), generator=torch.Generator().manual_seed(0))
    >>> bool((masked[0] == 8).all()), bool((masked[1] == 0).all())
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from diffusers import ConfigMixin, SchedulerMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

__all__ = [
    "MASK_SCHEDULES",
    "REVEAL_ORDERS",
    "AbsorbingCategoricalScheduler",
    "CategoricalSchedulerOutput",
    "RevealOrder",
]

MASK_SCHEDULES: tuple[str, ...] = ("linear", "cosine", "noise")
RevealOrder = Literal["random", "confidence"]
REVEAL_ORDERS: tuple[str, ...] = ("random", "confidence")


@dataclass
class CategoricalSchedulerOutput(BaseOutput):
    """Args:
    prev_sample (`torch.LongTensor` of shape `(batch_size, height, width)`): the layout at the next step.
    pred_original_sample (`torch.LongTensor` of shape `(batch_size, height, width)`): the sampled clean layout.
    """

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def _uniform(shape: tuple[int, ...], generator, device) -> torch.Tensor:
    """Uniform noise of ``shape``; one generator for all, or one per batch item (diffusers' convention)."""
    if isinstance(generator, list):
        return torch.stack([torch.rand(shape[1:], generator=g, device=g.device) for g in generator]).to(
            device
        )
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


class AbsorbingCategoricalScheduler(SchedulerMixin, ConfigMixin):
    """Absorbing-state categorical diffusion.

    Args:
        num_classes: classes ``K``; id ``K`` is ``[MASK]``.
        num_train_timesteps: ``T``, as the Gaussian scheduler it steps beside.
        mask_schedule: ``"linear"`` (``gamma(t) = (t + 1) / T``), ``"cosine"``
            (``gamma(t) = sin(pi / 2 * (t + 1) / T)``: more masking early) or ``"noise"``
            (``gamma(t) = (1 - alpha_bar(t)) / (1 - alpha_bar(T - 1))``: the share of the latent's variance that
            is noise at ``t`` under the Gaussian scheduler's ``scaled_linear`` betas, so the layout is revealed
            as the image's structure forms rather than while the latent is still noise).
        beta_start / beta_end: the Gaussian scheduler's ``scaled_linear`` betas (the ``"noise"`` schedule).
    """

    order = 1

    @register_to_config
    def __init__(
        self,
        num_classes: int = 8,
        num_train_timesteps: int = 1000,
        mask_schedule: str = "linear",
        beta_start: float = 0.00085,
        beta_end: float = 0.012,
    ) -> None:
        if mask_schedule not in MASK_SCHEDULES:
            raise ValueError(
                f"mask_schedule {mask_schedule!r} is not known; use one of {', '.join(MASK_SCHEDULES)}"
            )
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1 - betas, 0)  # (T,): the Gaussian side's signal share
        self._noise_share = ((1 - alphas_cumprod) / (1 - alphas_cumprod[-1])).float()
        self.timesteps = torch.arange(num_train_timesteps - 1, -1, -1)
        self.num_inference_steps: int | None = None

    @property
    def mask_id(self) -> int:
        return self.config.num_classes

    def mask_ratio(self, timesteps: torch.Tensor | int) -> torch.Tensor:
        """``gamma(t)``: the share of masked positions at step ``t`` (``t < 0`` means clean: 0)."""
        t = torch.as_tensor(timesteps, dtype=torch.float32)
        if self.config.mask_schedule == "noise":
            index = t.long().clamp(0, self.config.num_train_timesteps - 1)
            return torch.where(t < 0, torch.zeros_like(t), self._noise_share[index])
        u = ((t + 1) / self.config.num_train_timesteps).clamp(0.0, 1.0)
        return u if self.config.mask_schedule == "linear" else torch.sin(math.pi / 2 * u)

    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: str | torch.device | None = None,
        timesteps: torch.Tensor | list[int] | None = None,
    ) -> None:
        """Evenly spaced steps from ``T - 1`` down, or ``timesteps`` (a Gaussian scheduler's, to step beside it)."""
        if timesteps is None:
            if not num_inference_steps:
                raise ValueError("give num_inference_steps or timesteps")
            T = self.config.num_train_timesteps
            timesteps = torch.linspace(T - 1, 0, num_inference_steps).round().long()
        self.timesteps = torch.as_tensor(timesteps, device=device).long()
        self.num_inference_steps = len(self.timesteps)

    def previous_timestep(self, timestep: int) -> int:
        """The step after ``timestep`` in :attr:`timesteps` (-1 after the last: fully revealed)."""
        later = (self.timesteps == int(timestep)).nonzero()
        if len(later) == 0:
            raise ValueError(f"timestep {int(timestep)} is not among this scheduler's timesteps")
        i = int(later[0]) + 1
        return int(self.timesteps[i]) if i < len(self.timesteps) else -1

    def add_noise(
        self, layout: torch.Tensor, timesteps: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Mask each position of ``layout`` `(B, h, w)` with probability ``gamma(timesteps[b])``
        (``timesteps`` `(B,)`; a negative step leaves the layout clean)."""
        ratio = self.mask_ratio(timesteps.cpu()).to(layout.device).view(-1, *([1] * (layout.ndim - 1)))
        hide = _uniform(tuple(layout.shape), generator, layout.device) < ratio
        return torch.where(hide, torch.full_like(layout, self.mask_id), layout)

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        temperature: float = 1.0,
        reveal_order: RevealOrder = "random",
        return_dict: bool = True,
    ) -> CategoricalSchedulerOutput | tuple[torch.Tensor, torch.Tensor]:
        """One reverse step.

        Args:
            model_output: class logits of the clean layout `(B, K, h, w)`.
            timestep: the current step ``t`` (one of :attr:`timesteps`).
            sample: the current layout `(B, h, w)`, ``[MASK]`` where hidden.
            temperature: softmax temperature of the sampled classes (0: the most likely class).
            reveal_order: ``"random"`` (each masked position revealed with the same probability) or
                ``"confidence"`` (the expected number of them, most confident first; module docstring).
        """
        b, k = model_output.shape[:2]
        if k != self.config.num_classes:
            raise ValueError(f"logits have {k} classes, the scheduler {self.config.num_classes}")
        if reveal_order not in REVEAL_ORDERS:
            raise ValueError(
                f"reveal_order {reveal_order!r} is not known; use one of {', '.join(REVEAL_ORDERS)}"
            )
        probs = model_output.float().permute(0, 2, 3, 1).reshape(b, -1, k)  # (B, h*w, K)
        if temperature > 0:
            probs = torch.softmax(probs / temperature, dim=-1)
            u = _uniform((b, probs.shape[1], 1), generator, probs.device)
            x0 = (probs.cumsum(-1) < u).sum(-1).clamp(max=k - 1)  # (B, h*w): inverse-CDF sampling
        else:
            x0 = probs.argmax(-1)
        x0 = x0.view_as(sample)
        s = self.previous_timestep(timestep)
        g_t, g_s = float(self.mask_ratio(timestep)), float(self.mask_ratio(s)) if s >= 0 else 0.0
        reveal_p = 1.0 if g_t <= 0 else (g_t - g_s) / g_t
        masked = sample == self.mask_id
        if reveal_order == "random":
            reveal = masked & (_uniform(tuple(sample.shape), generator, sample.device) < reveal_p)
        else:
            reveal = self.most_confident(model_output, masked, reveal_p)
        prev = torch.where(reveal, x0, sample)
        if not return_dict:
            return prev, x0
        return CategoricalSchedulerOutput(prev_sample=prev, pred_original_sample=x0)

    @staticmethod
    def most_confident(model_output: torch.Tensor, masked: torch.Tensor, reveal_p: float) -> torch.Tensor:
        """The positions to reveal `(B, h, w)` (bool): per image, ``round(masked.sum() * reveal_p)`` of the
        ``masked`` ones, those whose most likely class (softmax of ``model_output`` `(B, K, h, w)`) is most
        probable; ties go to the earlier position."""
        b = masked.shape[0]
        conf = torch.softmax(model_output.float(), dim=1).amax(1)  # (B, h, w)
        conf = conf.masked_fill(~masked, -1.0).reshape(b, -1)  # (B, h*w): revealed positions last
        count = torch.round(masked.reshape(b, -1).sum(1).float() * reveal_p).long()  # (B,)
        order = conf.argsort(dim=1, descending=True, stable=True)  # (B, h*w)
        positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
        rank = torch.empty_like(order).scatter_(1, order, positions)  # (B, h*w): each position's place
        return (rank < count[:, None]).view_as(masked)
