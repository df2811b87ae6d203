"""``StableDiffusionGLIGENPipeline`` whose scheduled sampling switches every GLIGEN fuser.

diffusers' ``enable_fuser`` switches only modules whose type *is* ``GatedSelfAttentionDense``, so the
positional fusers (:mod:`generators.layout.gligen.positional`, a subclass) would stay on after the first
``gligen_scheduled_sampling_beta`` of the steps; this pipeline switches every fuser, subclasses included.

Box-masked fusers (:mod:`generators.layout.gligen.box_attention`) get the boxes from the UNet's position net,
which the pipeline already feeds ``gligen_boxes`` (and zero masks for the unconditional half)."""

from __future__ import annotations

from diffusers import StableDiffusionGLIGENPipeline

from .positional import set_fusers_enabled

__all__ = ["GroundedGLIGENPipeline"]


class GroundedGLIGENPipeline(StableDiffusionGLIGENPipeline):
    def enable_fuser(self, enabled: bool = True) -> None:
        set_fusers_enabled(self.unet, enabled)
