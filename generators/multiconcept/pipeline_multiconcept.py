"""``MultiConceptPipeline``: FreeCustom (tuning-free multi-concept composition from one reference image
per concept) on any SD-1.x / SD-2.x-shaped pipeline.

Each step, the references are noised to the current timestep and run through the UNet with their concept
prompts, ahead of the generated images in the same call: the selected self-attention layers cache the
references' keys / values (once for the whole batch), and the generated images' queries attend to their
own keys / values concatenated with every reference's, reference logits ``+w`` inside the concept's mask
and ``-inf`` outside. The processors are installed with ``unet.set_attn_processor`` for the call only;
the UNet leaves the call with its original processors. With ``mrsa=False`` (or an empty layer selection)
nothing is installed, nothing is recorded, and the output is the stock ``StableDiffusionPipeline``'s for
the same seed, bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import StableDiffusionPipeline
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import retrieve_timesteps
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from generators.multiconcept.concept import Concept, prepare_concepts
from generators.multiconcept.sharing import share_components
from generators.sampling import decode_latents, scheduler_step
from workbench.attention import (
    BIND_MODES,
    MASK_RESIZE,
    ConceptBinding,
    ReferenceAttentionState,
    attn_processors_installed,
    capture_processors,
    concept_token_indices,
    reference_processors,
    resolve_layers,
)
from workbench.latents import encode_images
from workbench.sampling import PIPELINE_SAMPLING

logger = logging.getLogger(__name__)

__all__ = ["EXAMPLE_DOC_STRING", "MultiConceptPipeline", "MultiConceptPipelineOutput"]

EXAMPLE_DOC_STRING = """
    Examples:
        >>> import torch
        >>> from generators.multiconcept import Concept, MultiConceptPipeline
        >>> from workbench.dummy import dummy_sd_pipeline
        >>> pipe = MultiConceptPipeline.from_pipe(dummy_sd_pipeline())  # or any SD-1.x / 2.x pipeline
        >>> g = torch.Generator().manual_seed(0)
        >>> red, blue = torch.rand(3, 32, 32, generator=g), torch.rand(3, 32, 32, generator=g)
        >>> mask = torch.zeros(32, 32, dtype=torch.bool)
        >>> mask[8:24, 8:24] = True
        >>> out = pipe(
        ...     "a red circle on the left and a blue square on the right",
        ...     concepts=[Concept(red, "a red circle", mask), Concept(blue, "a blue square")],
        ...     num_inference_steps=2,
        ...     generator=torch.Generator().manual_seed(0),
        ...     output_type="pt",
        ... )
        >>> tuple(out.images.shape), len(out.layers)
        ((1, 3, 32, 32), 2)
"""


@dataclass
class MultiConceptPipelineOutput(BaseOutput):
    """Output of :class:`MultiConceptPipeline`.

    Args:
        images: ``B`` PIL images, a numpy array `(B, H, W, 3)` or a tensor `(B, 3, H, W)` in [0, 1]
            (``output_type`` ``"pil"``, ``"np"``, ``"pt"``), or latents for ``"latent"``.
        nsfw_content_detected: the safety checker's flags, ``None`` without one.
        layers: the module names of the layers that ran reference attention (empty without MRSA).
    """

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    nsfw_content_detected: list[bool] | None
    layers: list[str]


class MultiConceptPipeline(StableDiffusionPipeline):
    """Multi-concept composition from one reference image per concept (FreeCustom, multi-reference
    self-attention).

    Built from the components of any Stable Diffusion 1.x / 2.x pipeline, sharing them (no copy)::

        pipe = MultiConceptPipeline.from_pipe(StableDiffusionPipeline.from_pretrained(...))

    Defaults are the paper's: 50 DDIM steps (the pipeline's own scheduler is used; pass a
    ``DDIMScheduler`` for the paper's sampler), guidance 7.5, the self-attention of the last two decoder
    levels (``layers="freecustom"``, FreeCustom's ``layer_idx`` 10-15 on SD-1.5), mask weight 3, style
    fidelity 1, MRSA at every step; two are not: masks reach each layer's tokens by coverage
    (``mask_resize="nearest"`` is the authors' rule) and each generated token is bound to its own
    concept's reference (``bind="hard"``; ``bind="off"`` is the authors' MRSA).
    """

    @classmethod
    def from_pipe(cls, pipeline: Any, **kwargs: Any) -> MultiConceptPipeline:
        """A ``MultiConceptPipeline`` sharing ``pipeline``'s modules as they are (diffusers' ``from_pipe``
        would cast them to float32 unless told a dtype); ``kwargs`` replace components."""
        return share_components(cls, pipeline, **kwargs)

    @torch.no_grad()
    def encode_references(self, images: torch.Tensor) -> torch.Tensor:
        """VAE latents (posterior means, scaled) of reference images.

        Args:
            images (`torch.Tensor` of shape `(R, 3, H, W)`): in [0, 1].

        Returns:
            `torch.Tensor` of shape `(R, 4, H / f, W / f)` (``f`` the VAE scale factor), in the UNet's scale.
        """
        return encode_images(self, images)

    def _binding(
        self, bind: str, prompt: str | list[str], concept_prompts: Sequence[str], latent_hw: tuple[int, int],
        strength: float,
    ) -> ConceptBinding | None:  # fmt: skip
        """The concept binding of a call, ``None`` when off or when the prompt names fewer than two concepts
        (then binding cannot tell tokens apart: plain MRSA, with a warning)."""
        if bind == "off":
            return None
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        found = {
            tuple(map(tuple, concept_token_indices(self.tokenizer, p, concept_prompts, strict=False)))
            for p in prompts
        }
        if len(found) != 1:
            raise ValueError(
                "binding needs the concepts' words at the same token positions in every prompt of the batch; "
                "call the pipeline once per prompt"
            )
        tokens = [list(t) for t in found.pop()]
        unnamed = [p for p, t in zip(concept_prompts, tokens) if not t]
        if len(concept_prompts) - len(unnamed) < 2:
            logger.warning(
                "bind=%r: the prompt names fewer than two of the concepts (%s not found); running plain MRSA",
                bind,
                ", ".join(repr(p) for p in unnamed),
            )
            return None
        if unnamed:
            logger.warning(
                "bind=%r: the prompt does not name %s; every token may attend to its reference",
                bind,
                ", ".join(repr(p) for p in unnamed),
            )
        return ConceptBinding(bind, tokens, latent_hw, strength)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        concepts: Sequence[Concept],
        layers: str | Sequence[str] = "freecustom",
        mask_weights: float | Sequence[float] = 3.0,
        mask_resize: str = "coverage",
        mask_balance: bool = False,
        bind: str = "hard",
        bind_strength: float = 1.0,
        style_fidelity: float = 1.0,
        use_concept_prompts: bool = True,
        mrsa: bool = True,
        start_step: int = 0,
        end_step: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = PIPELINE_SAMPLING.num_inference_steps,
        guidance_scale: float = PIPELINE_SAMPLING.guidance_scale,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        reference_seed: int = 0,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> MultiConceptPipelineOutput | tuple:
        r"""Compose the concepts into images of ``prompt``.

        Args:
            prompt: the target prompt(s) (``"a dog wearing a hat"``); ``B = len(prompt) * num_images_per_prompt``.
            concepts: 1 to 8 :class:`~generators.multiconcept.concept.Concept` (reference image, mask, concept
                prompt); references are resized to the output size (see the concept module).
            layers: the self-attention layers that run MRSA: a preset (``"freecustom"``, ``"decoder"``,
                ``"all"``) or dotted glob patterns over ``unet.attn_processors`` names
                (``"up_blocks.3.attentions.*.transformer_blocks.*.attn1"``).
            mask_weights: logit added inside each concept's mask (one for all, or one per concept).
            mask_resize: how masks are reduced to each layer's token grid: ``"coverage"`` (half-covered
                tokens) or ``"nearest"`` (the authors' nearest-neighbour interpolation); see
                :mod:`workbench.attention.masks`.
            mask_balance: add ``log(mean N / N_r)`` to concept ``r``'s mask weight at each layer (``N_r`` the
                tokens its mask keeps there), so that every concept draws the same share of attention whatever
                its size (:func:`workbench.attention.masks.reference_logit_bias`).
            bind: concept binding (:mod:`workbench.attention.binding`): ``"hard"`` (the default: a generated
                token attends to the reference of its leading concept only), ``"soft"`` (its logits against
                the other concepts' references lowered by ``bind_strength * log`` of their maps' ratio to its
                leading concept's) or ``"off"`` (the authors' MRSA: every token attends to every reference);
                a token's concept is read from the image's own cross-attention to each concept's phrase in
                ``prompt`` (from its concept prompt's words to the next concept's). A concept the prompt does
                not name is left unbound (every token may attend to it), and with fewer than two named the
                call runs plain MRSA; both with a warning.
            bind_strength: the multiplier of ``"soft"`` binding's bias (> 0).
            style_fidelity: in [0, 1], the weight of plain self-attention in the unconditional branch
                (``uncond = (1 - s) * MRSA + s * self-attention``); 1 (the default) leaves that branch plain, so
                classifier-free guidance pushes toward the references: larger is closer to the references.
            use_concept_prompts: denoise each reference with its concept prompt (else with ``""``).
            mrsa: ``False`` installs nothing: the stock pipeline's output (the concepts are still validated).
            start_step, end_step: MRSA runs at denoising steps ``start_step <= i < end_step`` (``None``: to the end).
            height, width: output size in pixels (default: the UNet's sample size times the VAE factor).
            num_inference_steps, guidance_scale, negative_prompt, num_images_per_prompt, eta, generator,
            latents, output_type, return_dict: as in ``StableDiffusionPipeline``.
            reference_seed: seed of the noise added to the references at each step (one generator for the
                call, independent of the images' generators, so an image's pixels do not depend on its batch).
            callback_on_step_end: ``fn(pipe, i, t, {"latents": latents}) -> dict``; a returned ``"latents"``
                replaces the latents.

        Returns:
            :class:`MultiConceptPipelineOutput` (or ``(images, nsfw_content_detected)`` when not ``return_dict``).

        Raises:
            ConceptError: no concepts, more than 8, or an unusable reference / mask.
            ValueError: bad MRSA settings (layer patterns, weights, steps).
        """
        # 0. Default height and width to the UNet's
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor

        # 1. Check inputs
        self.check_inputs(prompt, height, width, None, negative_prompt)
        prepared = prepare_concepts(concepts, height, width)
        n_refs = len(prepared)
        weights = (
            [float(mask_weights)] * n_refs if np.isscalar(mask_weights) else [float(w) for w in mask_weights]
        )
        if len(weights) != n_refs:
            raise ValueError(
                f"got {len(weights)} mask_weights for {n_refs} concepts; give one, or one per concept"
            )
        if mask_resize not in MASK_RESIZE:
            raise ValueError(f"mask_resize must be one of {', '.join(MASK_RESIZE)}, got {mask_resize!r}")
        if bind not in BIND_MODES:
            raise ValueError(f"bind must be one of {', '.join(BIND_MODES)}, got {bind!r}")
        if not np.isfinite(float(bind_strength)) or float(bind_strength) <= 0:
            raise ValueError(f"bind_strength must be a finite number > 0, got {bind_strength}")
        if not 0.0 <= float(style_fidelity) <= 1.0:
            raise ValueError(f"style_fidelity must lie in [0, 1], got {style_fidelity}")
        end_step = num_inference_steps if end_step is None else end_step
        if not 0 <= start_step <= end_step:
            raise ValueError(
                f"need 0 <= start_step <= end_step, got start_step={start_step}, end_step={end_step}"
            )
        layer_names = resolve_layers(self.unet, layers) if mrsa else []
        use_mrsa = bool(layer_names) and start_step < min(end_step, num_inference_steps)

        self._guidance_scale = guidance_scale
        self._guidance_rescale = 0.0
        self._clip_skip = None
        self._cross_attention_kwargs = None
        self._interrupt = False

        # 2. Define call parameters
        batch_size = 1 if isinstance(prompt, str) else len(prompt)
        device = self._execution_device

        # 3. Encode input prompt
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt, device, num_images_per_prompt, self.do_classifier_free_guidance, negative_prompt
        )
        if self.do_classifier_free_guidance:
            prompt_embeds = torch.cat([negative_prompt_embeds, prompt_embeds])

        # 4. Prepare timesteps
        timesteps, num_inference_steps = retrieve_timesteps(self.scheduler, num_inference_steps, device)

        # 5. Prepare latent variables
        latents = self.prepare_latents(
            batch_size * num_images_per_prompt,
            self.unet.config.in_channels,
            height,
            width,
            prompt_embeds.dtype,
            device,
            generator,
            latents,
        )

        # 6. Prepare extra step kwargs and the guidance embedding of distilled UNets
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)
        timestep_cond = None
        if self.unet.config.time_cond_proj_dim is not None:
            guidance_scale_tensor = torch.tensor(self.guidance_scale - 1).repeat(
                batch_size * num_images_per_prompt
            )
            timestep_cond = self.get_guidance_scale_embedding(
                guidance_scale_tensor, embedding_dim=self.unet.config.time_cond_proj_dim
            ).to(device=device, dtype=latents.dtype)

        # 7. Prepare the references: latents, concept prompt embeddings, attention state and processors
        processors: dict[str, Any] = {}
        if use_mrsa:
            query_branches = ("uncond", "cond") if self.do_classifier_free_guidance else ("cond",)
            state = ReferenceAttentionState(
                num_references=n_refs,
                reference_hw=(latents.shape[-2], latents.shape[-1]),
                masks=prepared.masks.to(device),
                mask_weights=weights,
                mask_resize=mask_resize,
                mask_balance=bool(mask_balance),
                plain_weight={"uncond": float(style_fidelity)},
                binding=self._binding(
                    bind, prompt, prepared.prompts, (latents.shape[-2], latents.shape[-1]), bind_strength
                ),
            )
            record_branches = tuple(b for b in query_branches if state.needs_references(b))
            ref_latents = self.encode_references(prepared.images).to(prompt_embeds.dtype)  # (R, 4, h, w)
            ref_prompts = prepared.prompts if use_concept_prompts else [""] * n_refs
            ref_negative = (
                negative_prompt
                if negative_prompt is None or isinstance(negative_prompt, str)
                else negative_prompt[0]
            )
            ref_cond, ref_uncond = self.encode_prompt(
                ref_prompts,
                device,
                1,
                "uncond" in record_branches,
                None if ref_negative is None else [ref_negative] * n_refs,
            )
            ref_embeds = torch.cat([ref_uncond, ref_cond]) if "uncond" in record_branches else ref_cond
            ref_generator = torch.Generator(device="cpu").manual_seed(int(reference_seed))
            ref_timestep_cond = (
                None if timestep_cond is None else timestep_cond[:1].expand(ref_embeds.shape[0], -1)
            )
            processors = reference_processors(self.unet, layer_names, state)
            if state.binding is not None:
                processors.update(capture_processors(self.unet, state))

        # 8. Denoising loop (the reference processors are installed for the loop only)
        num_warmup_steps = len(timesteps) - num_inference_steps * self.scheduler.order
        self._num_timesteps = len(timesteps)
        with (
            attn_processors_installed(self.unet, processors),
            self.progress_bar(total=num_inference_steps) as progress_bar,
        ):
            for i, t in enumerate(timesteps):
                step_mrsa = use_mrsa and start_step <= i < end_step

                # 8.1 Expand the latents for classifier-free guidance
                latent_model_input = torch.cat([latents] * 2) if self.do_classifier_free_guidance else latents
                if hasattr(self.scheduler, "scale_model_input"):
                    latent_model_input = self.scheduler.scale_model_input(latent_model_input, t)

                # 8.2 Predict the noise residual. At MRSA steps the references, noised to t, run in the same
                # UNet call ahead of the generated rows: the selected layers cache their keys / values once
                # for the whole batch and the generated rows attend to them (joint mode)
                if step_mrsa:
                    noise = randn_tensor(
                        ref_latents.shape, generator=ref_generator, device=device, dtype=ref_latents.dtype
                    )
                    ref_t = self.scheduler.add_noise(ref_latents, noise, t.reshape(1))  # (R, 4, h, w)
                    ref_input = torch.cat([ref_t] * len(record_branches))  # (R * branches, 4, h, w)
                    if hasattr(self.scheduler, "scale_model_input"):
                        ref_input = self.scheduler.scale_model_input(ref_input, t)
                    if state.binding is not None:
                        state.binding.new_call()
                    with state.joint(record_branches, query_branches):
                        noise_pred = self.unet(
                            torch.cat([ref_input, latent_model_input]),
                            t,
                            encoder_hidden_states=torch.cat([ref_embeds, prompt_embeds]),
                            timestep_cond=None
                            if timestep_cond is None
                            else torch.cat([ref_timestep_cond, timestep_cond]),
                            return_dict=False,
                        )[0][ref_input.shape[0] :]  # the generated rows
                    state.cache.clear()
                else:
                    noise_pred = self.unet(
                        latent_model_input,
                        t,
                        encoder_hidden_states=prompt_embeds,
                        timestep_cond=timestep_cond,
                        return_dict=False,
                    )[0]

                # 8.3 Guidance
                if self.do_classifier_free_guidance:
                    noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
                    noise_pred = noise_pred_uncond + self.guidance_scale * (
                        noise_pred_text - noise_pred_uncond
                    )

                # 8.4 Compute the previous noisy sample x_t -> x_t-1
                latents = scheduler_step(
                    self,
                    i,
                    t,
                    latents,
                    noise_pred,
                    extra_step_kwargs,
                    progress_bar,
                    len(timesteps),
                    num_warmup_steps,
                    callback_on_step_end,
                )

        # 9. Decode
        image, has_nsfw_concept = decode_latents(
            self, latents, output_type, generator, safety_check=True, device=device, dtype=prompt_embeds.dtype
        )
        self.maybe_free_model_hooks()

        if not return_dict:
            return (image, has_nsfw_concept)
        return MultiConceptPipelineOutput(
            images=image, nsfw_content_detected=has_nsfw_concept, layers=layer_names if use_mrsa else []
        )


MultiConceptPipeline.__call__.__doc__ = (MultiConceptPipeline.__call__.__doc__ or "") + EXAMPLE_DOC_STRING
