"""The joint denoiser of GCDP (Park et al., ICCV 2023): one network that reads a noisy image latent and a
partly masked semantic layout and predicts both the latent's noise (Gaussian diffusion) and the layout's
clean classes (categorical, absorbing-state diffusion), conditioned on the caption.

The trunk is a stock ``UNet2DConditionModel`` whose input is ``[latent (C channels); layout embedding
(E channels)]`` and whose output is ``[noise (C channels); class logits (K channels)]``; the layout enters as
a learned embedding of each position's class, or of the ``[MASK]`` class ``K`` where it is still hidden.
:meth:`GCDPDenoiser.from_unet` builds one from a text-to-image UNet, keeping its weights, so that with a
fully masked layout it starts by computing what that UNet computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers import ConfigMixin, ModelMixin, UNet2DConditionModel
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn

__all__ = ["GCDPDenoiser", "GCDPDenoiserOutput"]


@dataclass
class GCDPDenoiserOutput(BaseOutput):
    """Args:
    sample (`torch.Tensor` of shape `(batch_size, latent_channels, height, width)`): the predicted noise.
    logits (`torch.Tensor` of shape `(batch_size, num_classes, height, width)`): the clean layout's class logits.
    """

    sample: torch.Tensor
    logits: torch.Tensor


class GCDPDenoiser(ModelMixin, ConfigMixin):
    """Joint image-latent and semantic-layout denoiser.

    Args:
        trunk: the trunk's ``UNet2DConditionModel`` config; its ``in_channels`` / ``out_channels`` are
            set here from ``latent_channels``, ``layout_embed_dim`` and ``num_classes``.
        num_classes: layout classes ``K`` (the toy world's: background, six shapes, emblem); id ``K`` is
            ``[MASK]``.
        layout_embed_dim: channels of the layout embedding concatenated to the latent.
        latent_channels: channels of the image latent (4 for SD's VAE).
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        trunk: dict[str, Any] | None = None,
        num_classes: int = 8,
        layout_embed_dim: int = 8,
        latent_channels: int = 4,
    ) -> None:
        super().__init__()
        config = {k: v for k, v in (trunk or {}).items() if not k.startswith("_")}
        config["in_channels"] = latent_channels + layout_embed_dim
        config["out_channels"] = latent_channels + num_classes
        self.unet = UNet2DConditionModel(**config)
        self.layout_embedding = nn.Embedding(num_classes + 1, layout_embed_dim)

    @property
    def mask_id(self) -> int:
        return self.config.num_classes

    @classmethod
    def from_unet(
        cls, unet: UNet2DConditionModel, num_classes: int = 8, layout_embed_dim: int = 8
    ) -> GCDPDenoiser:
        """A denoiser whose trunk holds ``unet``'s weights: the new input channels (the layout) start at zero
        weight and the class logits at zero, so the noise prediction starts as ``unet``'s."""
        c = unet.config.in_channels
        if unet.config.out_channels != c:
            raise ValueError(
                f"the UNet maps {c} to {unet.config.out_channels} channels; a noise-predicting UNet maps C to C"
            )
        model = cls(
            trunk=dict(unet.config),
            num_classes=num_classes,
            layout_embed_dim=layout_embed_dim,
            latent_channels=c,
        )
        state = unet.state_dict()
        own = model.unet.state_dict()
        for key in ("conv_in.weight", "conv_out.weight", "conv_out.bias"):
            new = torch.zeros_like(own[key])
            if key == "conv_in.weight":
                new[:, :c] = state[key]  # (out, C + E, 3, 3): the latent's channels keep their weights
            else:
                new[:c] = state[key]  # the noise channels keep theirs; the logits start at 0
            state[key] = new
        model.unet.load_state_dict(state)
        return model.to(device=unet.device, dtype=unet.dtype)

    def forward(
        self,
        sample: torch.Tensor,
        layout: torch.Tensor,
        timestep: torch.Tensor | int,
        encoder_hidden_states: torch.Tensor,
        cross_attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
    ) -> GCDPDenoiserOutput | tuple[torch.Tensor, torch.Tensor]:
        """Args:
        sample: noisy latents `(B, C, h, w)`.
        layout: class ids `(B, h, w)` in ``[0, K]`` (``K`` = masked).
        timestep: the latent's diffusion step, `(B,)` or a number.
        encoder_hidden_states: the caption's token states `(B, T, D)`.
        """
        if layout.shape[0] != sample.shape[0] or layout.shape[-2:] != sample.shape[-2:]:
            raise ValueError(
                f"layout of shape {tuple(layout.shape)} does not match latents {tuple(sample.shape)}: "
                "give one (h, w) class map per latent"
            )
        emb = self.layout_embedding(layout.long()).permute(0, 3, 1, 2).to(sample.dtype)  # (B, E, h, w)
        out = self.unet(
            torch.cat([sample, emb], dim=1),  # (B, C + E, h, w)
            timestep,
            encoder_hidden_states=encoder_hidden_states,
            cross_attention_kwargs=cross_attention_kwargs,
        ).sample  # (B, C + K, h, w)
        c = self.config.latent_channels
        noise, logits = out[:, :c], out[:, c:]
        if not return_dict:
            return noise, logits
        return GCDPDenoiserOutput(sample=noise, logits=logits)
