"""The joint denoiser of GCDP (Park et al., ICCV 2023): one network that reads a noisy image latent and a
partly masked semantic layout and predicts both the latent's noise (Gaussian diffusion) and the layout's
clean classes (categorical, absorbing-state diffusion), conditioned on the caption.

How the image and the layout are coupled. In the paper one denoiser is shared by both: the noisy image and
the noisy layout enter it together and both predictions leave it, on one diffusion step ``t`` (the
Gaussian-categorical process), the network trained on the domain's image-layout pairs. Here the denoiser
starts from a trained text-to-image UNet (the toy SD's), and sharing all of it let the new task erase what it
knew (fine-tuning it moved its two-object accuracy from 0.75 to 0.27 while the layout learned), so the image
side is kept and the layout is given its own layers:

- trunk: the text-to-image ``UNet2DConditionModel``, untouched: it reads the latent alone through its own
  input convolution and writes the noise through its own output convolution (:class:`TrunkOutput` also hands
  out the features that convolution reads);
- layout in (:class:`LayoutEncoder`): a learned embedding of each cell's class (or of ``[MASK]``), read with
  the noisy latent by a small encoder conditioned on the trunk's timestep embedding; its features add into the
  trunk's first features (:class:`TrunkInput`, a 3x3 convolution), skip connections and middle block through
  convolutions initialised at zero (ControlNet's coupling, plus the input). A given layout (layout -> image)
  enters the same way;
- layout out (:class:`LayoutHead`): class logits from the trunk's last features (gradient stopped: the class
  loss trains the head and the encoder, the residuals learn from the noise loss alone) and the encoder's.

So the layout steers the image only through the zero-initialised residuals: at initialisation the noise
prediction is the trunk's exactly, for any layout, and training learns how far the layout moves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers import ConfigMixin, ModelMixin, UNet2DConditionModel
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn

from .layout_branch import LayoutEncoder, LayoutHead, TrunkInput, TrunkOutput

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
    """Joint image-latent and semantic-layout denoiser: a text-to-image trunk and the layout's own layers.

    Args:
        trunk: the trunk's ``UNet2DConditionModel`` config; its ``in_channels`` and ``out_channels`` must both
            be ``latent_channels`` (a noise-predicting UNet).
        num_classes: layout classes ``K`` (the toy world's: background, six shapes, emblem); id ``K`` is
            ``[MASK]``.
        layout_embed_dim: channels of the layout embedding the layout encoder reads beside the latent.
        latent_channels: channels of the image latent (4 for SD's VAE).

    Raises:
        ValueError: fewer than 2 classes, an embedding width below 1, or a trunk that does not map
            ``latent_channels`` to ``latent_channels``.
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
        if num_classes < 2:
            raise ValueError(
                f"num_classes={num_classes}: a layout needs at least 2 classes (background and one)"
            )
        if layout_embed_dim < 1:
            raise ValueError(f"layout_embed_dim={layout_embed_dim}: give a width of at least 1")
        config = {k: v for k, v in (trunk or {}).items() if not k.startswith("_")}
        for key in ("in_channels", "out_channels"):
            if config.setdefault(key, latent_channels) != latent_channels:
                raise ValueError(
                    f"the trunk's {key} is {config[key]}, the latent has {latent_channels} channels: the trunk "
                    "must be a noise-predicting UNet over the latent (give its own config)"
                )
        self.unet = UNet2DConditionModel(**config)
        full = dict(self.unet.config)
        c0 = full["block_out_channels"][0]
        self.unet.conv_in = TrunkInput(self.unet.conv_in, c0)
        self.unet.conv_out = TrunkOutput(self.unet.conv_out)
        groups = full.get("norm_num_groups") or 32
        self.layout_embedding = nn.Embedding(num_classes + 1, layout_embed_dim)
        time_dim = self.unet.time_embedding.linear_2.out_features
        self.layout_encoder = LayoutEncoder(latent_channels + layout_embed_dim, full, time_dim)
        self.layout_head = LayoutHead(c0, c0, num_classes, groups)

    @property
    def mask_id(self) -> int:
        return self.config.num_classes

    @classmethod
    def from_unet(
        cls, unet: UNet2DConditionModel, num_classes: int = 8, layout_embed_dim: int = 8
    ) -> GCDPDenoiser:
        """A denoiser whose trunk holds ``unet``'s weights; the layout's residuals start at zero, so its noise
        prediction starts as ``unet``'s for any layout."""
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
        state = {
            k.replace(".", ".conv.", 1) if k.startswith(("conv_in.", "conv_out.")) else k: v
            for k, v in unet.state_dict().items()
        }
        missing, unexpected = model.unet.load_state_dict(state, strict=False)
        if unexpected or set(missing) != {"conv_in.zero.weight", "conv_in.zero.bias"}:
            raise ValueError(f"the UNet's weights do not fit the trunk: {missing or unexpected}")
        return model.to(device=unet.device, dtype=unet.dtype)

    def layout_parameters(self) -> list[nn.Parameter]:
        """The layout's own parameters (embedding, encoder, head, the input's zero convolution): everything but
        the trunk's own weights."""
        return [
            p
            for n, p in self.named_parameters()
            if not n.startswith("unet.") or n.startswith("unet.conv_in.zero.")
        ]

    def trunk_parameters(self) -> list[nn.Parameter]:
        """The trunk's own weights (the text-to-image UNet's)."""
        return [
            p
            for n, p in self.named_parameters()
            if n.startswith("unet.") and not n.startswith("unet.conv_in.zero.")
        ]

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
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(sample.shape[0])
        temb = self.unet.time_embedding(self.unet.get_time_embed(sample=sample, timestep=t))  # (B, D_t)
        emb = self.layout_embedding(layout.long()).permute(0, 3, 1, 2).to(sample.dtype)  # (B, E, h, w)
        feats, skips, mid = self.layout_encoder(torch.cat([sample, emb], dim=1), temb)
        out = self.unet(
            torch.cat(
                [sample, feats[0]], dim=1
            ),  # (B, C + c_0, h, w): TrunkInput adds the features at zero weight
            t,
            encoder_hidden_states=encoder_hidden_states,
            cross_attention_kwargs=cross_attention_kwargs,
            down_block_additional_residuals=skips,
            mid_block_additional_residual=mid,
        ).sample  # (B, C + c_0, h, w)
        c = self.config.latent_channels
        noise, hidden = out[:, :c], out[:, c:]  # (B, C, h, w), (B, c_0, h, w)
        # the class loss reaches the trunk's features only through the head: it does not pull the residuals
        logits = self.layout_head(hidden.detach(), feats[0])  # (B, K, h, w)
        if not return_dict:
            return noise, logits
        return GCDPDenoiserOutput(sample=noise, logits=logits)
