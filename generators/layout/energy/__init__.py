"""Cross-attention energies: how far each phrase's attention is from its region (lower is better).

Each energy is a function ``energy(maps, targets) -> (B,)`` registered in :data:`ENERGIES`:

- ``maps``: layer name -> `torch.Tensor` of shape `(B, h*w, T)`, head-averaged cross-attention
  probabilities recorded in one UNet pass (with their graph);
- ``targets``: one :class:`SampleTargets` per batch row (token indices and region masks of its layout).

Gradients of the summed energy with respect to the latents steer generation (see
:class:`generators.layout.box_guidance.StableDiffusionBoxGuidancePipeline`).
"""

from __future__ import annotations

from workbench.registry import Registry

from .targets import SampleTargets

ENERGIES: Registry = Registry("layout energy")

from . import boxdiff, layout_guidance  # noqa: E402,F401  (registers the energies)

__all__ = ["ENERGIES", "SampleTargets"]
