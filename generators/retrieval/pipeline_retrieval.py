"""``RetrievalAugmentedPipeline``: text-to-image generation with (image, text) neighbours retrieved from a
multimodal knowledge base as references (Re-Imagen; RDM), on any SD-1.x / SD-2.x-shaped pipeline.

Three ways to condition on the neighbours:

- ``mode="reference"`` (training-free): the neighbours' images, noised to the current timestep, run
  through the UNet first (the *record* pass caches the selected self-attention layers' keys / values);
  then each generated image's queries attend to its own keys / values and to those of its own prompt's
  neighbours (the reference-attention processors of :mod:`workbench.attention`, installed for the call
  only). A neighbour with a subject box in its metadata is attended inside that box only.
- ``mode="conditioned"`` (trained): a :class:`~generators.retrieval.conditioner.RetrievalConditioner`
  turns the neighbours' CLIP image and text embeddings into extra cross-attention tokens appended to the
  prompt's tokens; the UNet was fine-tuned to read them (:mod:`generators.retrieval.train`).
- ``mode="blend"`` (training-free): the top neighbour's subject is placed in the box the prompt asks for
  and its latents are held there for the first steps (:mod:`generators.retrieval.blend`).

Guidance is ordinary single classifier-free guidance or Re-Imagen's interleaved guidance (text-enhanced
and retrieval-enhanced steps alternated with a ratio; :mod:`generators.retrieval.guidance`).

Without neighbours and without a conditioner nothing is installed and the output is the stock
``StableDiffusionPipeline``'s for the same seed, bit for bit.
"""

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import retrieve_timesteps
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPImageProcessor, CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from generators.retrieval.blend import BlendConfig, NeighbourBlend
from generators.retrieval.boxes import pixel_box
from generators.retrieval.conditioner import RetrievalConditioner
from generators.retrieval.guidance import BRANCHES, GuidanceConfig, combine_guidance
from generators.retrieval.retriever import RetrievedNeighbours, retrieve
from generators.sampling import decode_latents, scheduler_step
from workbench.attention import (
    ReferenceAttentionState,
    attn_processors_installed,
    reference_processors,
    resolve_layers,
)
from workbench.latents import encode_images

logger = logging.getLogger(__name__)

__all__ = [
    "CONDITIONER_FOLDER",
    "EXAMPLE_DOC_STRING",
    "RetrievalAugmentedPipeline",
    "RetrievalPipelineOutput",
]

CONDITIONER_FOLDER = "retrieval_conditioner"

EXAMPLE_DOC_STRING = """
    Examples:
        >>> import tempfile, torch
        >>> from generators.retrieval import ClipEmbedder, KnowledgeBase, RetrievalAugmentedPipeline, ToyEntitySource
        >>> from workbench.dummy import dummy_clip, dummy_sd_pipeline
        >>> kb = KnowledgeBase.build(tempfile.mkdtemp(), ToyEntitySource(2, entities=["zorvik"]), ClipEmbedder(*dummy_clip()))
        >>> pipe = RetrievalAugmentedPipeline.from_pipe(dummy_sd_pipeline())  # or any SD-1.x / 2.x pipeline
        >>> out = pipe(
        ...     "a zorvik emblem on the left",
        ...     knowledge_base=kb,
        ...     k=2,
        ...     guidance={"scheme": "interleaved", "ratio": 0.5},
        ...     num_inference_steps=2,
        ...     generator=torch.Generator().manual_seed(0),
        ...     output_type="pt",
        ... )
        >>> tuple(out.images.shape), out.mode, out.step_kinds
        ((1, 3, 32, 32), 'reference', ['retrieval', 'text'])
"""


@dataclass
class RetrievalPipelineOutput(BaseOutput):
    """Output of :class:`RetrievalAugmentedPipeline`.

    Args:
        images: ``B`` PIL images, a numpy array `(B, H, W, 3)` or a tensor `(B, 3, H, W)` in [0, 1]
            (``output_type`` ``"pil"``, ``"np"``, ``"pt"``), or latents for ``"latent"``.
        nsfw_content_detected: the safety checker's flags, ``None`` without one.
        mode: ``"reference"``, ``"conditioned"`` or ``None`` (no retrieval).
        step_kinds: the guidance of each step (``"single"``, ``"text"`` or ``"retrieval"``).
        neighbours: the neighbours of each prompt (``None`` without retrieval).
    """

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    nsfw_content_detected: list[bool] | None
    mode: str | None
    step_kinds: list[str]
    neighbours: list[RetrievedNeighbours] | None


def boxes_to_masks(
    boxes: Sequence[tuple[float, float, float, float]], height: int, width: int
) -> torch.Tensor:
    """Boolean masks `(R, height, width)` of normalised xyxy boxes (at least one pixel each)."""
    masks = torch.zeros(len(boxes), height, width, dtype=torch.bool)
    for r, box in enumerate(boxes):
        c0, r0, c1, r1 = pixel_box(box, height, width)
        masks[r, r0:r1, c0:c1] = True
    return masks


class RetrievalAugmentedPipeline(StableDiffusionPipeline):
    """Retrieval-augmented text-to-image generation (Re-Imagen) on a Stable Diffusion pipeline.

    Built from the components of any Stable Diffusion 1.x / 2.x pipeline, sharing them (no copy)::

        pipe = RetrievalAugmentedPipeline.from_pipe(StableDiffusionPipeline.from_pretrained(...))

    or from a fine-tuned export with its conditioner (:meth:`from_export`). Neighbours are given
    (:func:`~generators.retrieval.retriever.retrieve`) or retrieved in the call from ``knowledge_base``.
    """

    _optional_components = [*StableDiffusionPipeline._optional_components, "retrieval_conditioner"]

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet2DConditionModel,
        scheduler: KarrasDiffusionSchedulers,
        safety_checker: Optional[StableDiffusionSafetyChecker] = None,  # noqa: UP045
        feature_extractor: Optional[CLIPImageProcessor] = None,  # noqa: UP045
        image_encoder: Optional[CLIPVisionModelWithProjection] = None,  # noqa: UP045
        requires_safety_checker: bool = False,
        retrieval_conditioner: Optional[RetrievalConditioner] = None,  # noqa: UP045 - diffusers reads the hint
    ) -> None:
        super().__init__(
            vae, text_encoder, tokenizer, unet, scheduler, safety_checker, feature_extractor, image_encoder,
            requires_safety_checker,
        )  # fmt: skip
        self.register_modules(retrieval_conditioner=retrieval_conditioner)

    @classmethod
    def from_export(cls, folder: str | Path, **kwargs: Any) -> "RetrievalAugmentedPipeline":
        """Load a fine-tuned export: a Stable Diffusion folder with a ``retrieval_conditioner/`` sub-folder
        (written by :class:`~generators.retrieval.train.RetrievalTrainer`); safetensors only."""
        folder = Path(folder)
        if not (folder / CONDITIONER_FOLDER / "config.json").is_file():
            raise FileNotFoundError(
                f"{str(folder)!r} has no {CONDITIONER_FOLDER}/ (a retrieval-conditioned export); train one with "
                "generators.retrieval.train.RetrievalTrainer, or use mode='reference' on a stock pipeline"
            )
        conditioner = RetrievalConditioner.from_pretrained(folder / CONDITIONER_FOLDER, use_safetensors=True)
        return cls.from_pretrained(
            folder, retrieval_conditioner=conditioner, safety_checker=None, requires_safety_checker=False,
            use_safetensors=True, **kwargs,
        )  # fmt: skip

    def save_export(self, folder: str | Path, half: bool = False) -> Path:
        """Save the Stable Diffusion parts (``save_pretrained``) and the conditioner in ``retrieval_conditioner/``;
        ``half`` stores the diffusers models (UNet, VAE, conditioner) in float16, loaded back as float32."""
        from toyworld.train.storage import save_model_half, save_pipeline_half

        folder = Path(folder)
        conditioner = self.retrieval_conditioner
        pipe = StableDiffusionPipeline(
            self.vae, self.text_encoder, self.tokenizer, self.unet, self.scheduler, None, None,
            requires_safety_checker=False,
        )  # fmt: skip
        if half:
            save_pipeline_half(pipe, folder)
        else:
            pipe.save_pretrained(folder, safe_serialization=True)
        if conditioner is not None:
            target = folder / CONDITIONER_FOLDER
            if half:
                save_model_half(conditioner, target)
            else:
                conditioner.save_pretrained(target, safe_serialization=True)
        return folder

    @torch.no_grad()
    def encode_references(self, images: torch.Tensor) -> torch.Tensor:
        """VAE latents (posterior means, scaled) of reference images `(R, 3, H, W)` in [0, 1] ->
        `(R, 4, H / f, W / f)`."""
        return encode_images(self, images)

    def _neighbours_per_prompt(
        self, neighbours, knowledge_base, prompts: list[str], k: int, target: str, filters
    ) -> list[RetrievedNeighbours] | None:
        if neighbours is None and knowledge_base is not None:
            return retrieve(knowledge_base, prompts, k=k, target=target, filters=filters)
        if neighbours is None:
            return None
        if isinstance(neighbours, RetrievedNeighbours):
            return [neighbours] * len(prompts)
        neighbours = list(neighbours)
        if len(neighbours) != len(prompts):
            raise ValueError(
                f"got neighbours for {len(neighbours)} prompts but {len(prompts)} prompts; give one per prompt"
            )
        return neighbours

    def _reference_setup(
        self,
        neighbours: list[RetrievedNeighbours],
        rows_per_prompt: int,
        height: int,
        width: int,
        latent_hw: tuple[int, int],
        reference_weight: float,
        use_boxes: bool,
        dtype: torch.dtype,
    ) -> tuple[ReferenceAttentionState, torch.Tensor, dict[str, torch.Tensor]]:
        """Reference attention state, reference latents `(R, 4, h, w)` and the references' prompt embeddings
        per record branch (``cond``: their captions, ``retrieval_only``: the empty prompt)."""
        device = self._execution_device
        images = torch.cat(
            [
                F.interpolate(n.images.float(), size=(height, width), mode="bilinear", antialias=True)
                for n in neighbours
            ]
        ).clamp(0, 1)  # (R, 3, H, W)
        owner = torch.cat(
            [torch.full((len(n),), p) for p, n in enumerate(neighbours)]
        )  # (R,) prompt of each reference
        rows = (
            torch.arange(len(neighbours) * rows_per_prompt) // rows_per_prompt
        )  # (B,) prompt of each image row
        allowed = rows[:, None] == owner[None, :]  # (B, R)
        boxes = [b for n in neighbours for b in (n.boxes or [None] * len(n))]
        masks = (
            boxes_to_masks(boxes, height, width).to(device)
            if use_boxes and all(b is not None for b in boxes)
            else None
        )
        state = ReferenceAttentionState(
            num_references=images.shape[0],
            reference_hw=latent_hw,
            masks=masks,
            mask_weights=float(reference_weight),
            plain_weight={"uncond": 1.0, "text_only": 1.0},
            allowed=allowed.to(device),
        )
        ref_latents = self.encode_references(images).to(dtype)  # (R, 4, h, w)
        texts = [t for n in neighbours for t in n.texts]
        cond, uncond = self.encode_prompt(texts, device, 1, True, [""] * len(texts))
        return state, ref_latents, {"cond": cond, "retrieval_only": uncond}

    def _blend_setup(
        self,
        neighbours: list[RetrievedNeighbours],
        target_boxes: Sequence[tuple[float, float, float, float] | None] | None,
        rows_per_prompt: int,
        height: int,
        width: int,
        blend: BlendConfig | dict[str, Any] | None,
        seed: int,
    ) -> NeighbourBlend:
        """The :class:`NeighbourBlend` of each image row: its prompt's top neighbour in its target box."""
        config = blend if isinstance(blend, BlendConfig) else BlendConfig(**(blend or {}))
        if target_boxes is None:
            target_boxes = [None] * len(neighbours)
        if len(target_boxes) != len(neighbours):
            raise ValueError(
                f"got {len(target_boxes)} target boxes for {len(neighbours)} prompts; give one per prompt"
            )
        if any(len(n) == 0 for n in neighbours):
            raise ValueError("mode='blend' needs at least one neighbour per prompt")
        rows = [p for p in range(len(neighbours)) for _ in range(rows_per_prompt)]
        return NeighbourBlend.build(
            self,
            [neighbours[p].images[0] for p in rows],
            [neighbours[p].boxes[0] if neighbours[p].boxes else None for p in rows],
            [target_boxes[p] for p in rows],
            height,
            width,
            config,
            seed,
        )

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        neighbours: RetrievedNeighbours | Sequence[RetrievedNeighbours] | None = None,
        knowledge_base: Any = None,
        k: int = 4,
        retrieval_target: str = "text",
        retrieval_filters: dict[str, Any] | None = None,
        mode: str = "auto",
        guidance: GuidanceConfig | dict[str, Any] | None = None,
        guidance_scale: float = 7.5,
        layers: str | Sequence[str] = "decoder",
        reference_weight: float = 0.0,
        use_boxes: bool = True,
        target_boxes: Sequence[tuple[float, float, float, float] | None] | None = None,
        blend: BlendConfig | dict[str, Any] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        reference_seed: int = 0,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> RetrievalPipelineOutput | tuple:
        r"""Generate images of ``prompt`` with retrieved neighbours as references.

        Args:
            prompt: the prompt(s); ``B = len(prompt) * num_images_per_prompt`` images.
            neighbours: one :class:`RetrievedNeighbours` for every prompt, or one per prompt; ``None`` with no
                ``knowledge_base`` generates without retrieval.
            knowledge_base, k, retrieval_target, retrieval_filters: retrieve ``k`` neighbours per prompt from this
                :class:`~generators.retrieval.knowledge_base.KnowledgeBase` when ``neighbours`` is ``None``
                (``retrieval_target`` ``"text"``: text-to-text, ``"image"``: text-to-image).
            mode: ``"reference"`` (training-free reference attention), ``"conditioned"`` (the trained
                conditioner's tokens), ``"blend"`` (the top neighbour's subject blended into its box) or
                ``"auto"`` (conditioned when the pipeline has a conditioner).
            guidance: a :class:`GuidanceConfig` (or its dict): ``scheme`` single / interleaved, scales, ratio;
                ``None``: single guidance with ``guidance_scale``.
            guidance_scale: the scale when ``guidance`` is ``None``.
            layers: self-attention layers of reference attention: a preset (``"decoder"``, ``"freecustom"``,
                ``"all"``) or dotted glob patterns over ``unet.attn_processors`` names.
            reference_weight: logit added to the neighbours' keys inside their subject boxes.
            use_boxes: attend only inside the neighbours' subject boxes (``meta["box"]``) when every neighbour has one.
            target_boxes: ``mode="blend"``: per prompt, the normalised xyxy box its subject goes to (``None``:
                where it is in the neighbour).
            blend: ``mode="blend"``: a :class:`~generators.retrieval.blend.BlendConfig` (or its dict).
            height, width, num_inference_steps, negative_prompt, num_images_per_prompt, eta, generator, latents,
            output_type, return_dict: as in ``StableDiffusionPipeline``.
            reference_seed: seed of the noise added to the neighbours' latents at each step (one generator for
                the call, independent of the images' generators).
            callback_on_step_end: ``fn(pipe, i, t, {"latents": latents}) -> dict``; a returned ``"latents"``
                replaces the latents.

        Returns:
            :class:`RetrievalPipelineOutput` (or ``(images, nsfw_content_detected)`` when not ``return_dict``).

        Raises:
            ValueError: interleaved guidance without neighbours, ``mode="conditioned"`` without a conditioner,
                neighbours that do not match the prompts.
        """
        # 0. Default height and width to the UNet's; settle guidance and mode
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        if guidance is None:
            guidance = GuidanceConfig(scheme="single", guidance_scale=guidance_scale)
        elif isinstance(guidance, dict):
            guidance = GuidanceConfig(**guidance)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        conditioner = self.retrieval_conditioner
        if mode == "auto":
            mode = "conditioned" if conditioner is not None else "reference"
        if mode not in ("reference", "conditioned", "blend"):
            raise ValueError(f"mode must be 'auto', 'reference', 'conditioned' or 'blend', got {mode!r}")
        if mode == "conditioned" and conditioner is None:
            raise ValueError(
                "mode='conditioned' needs a trained retrieval conditioner (RetrievalAugmentedPipeline.from_export); "
                "use mode='reference' for training-free retrieval"
            )

        # 1. Check inputs and get the neighbours
        self.check_inputs(prompt, height, width, None, negative_prompt)
        per_prompt = self._neighbours_per_prompt(
            neighbours, knowledge_base, prompts, k, retrieval_target, retrieval_filters
        )
        retrieval = per_prompt is not None
        if guidance.scheme == "interleaved" and not retrieval:
            raise ValueError("interleaved guidance needs neighbours (pass neighbours= or knowledge_base=)")
        tokens_mode = conditioner is not None and (mode == "conditioned" or not retrieval)
        self._guidance_scale = guidance.guidance_scale
        self._guidance_rescale = 0.0
        self._clip_skip = None
        self._cross_attention_kwargs = None
        self._interrupt = False
        two_branches = guidance.scheme == "interleaved" or self.do_classifier_free_guidance

        # 2. Define call parameters
        batch_size = len(prompts)
        rows = batch_size * num_images_per_prompt
        device = self._execution_device

        # 3. Encode input prompt: per-branch encoder states (B, 77 [+ T], C)
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt, device, num_images_per_prompt, two_branches, negative_prompt
        )
        text_states = {"cond": prompt_embeds, "text_only": prompt_embeds}
        if two_branches:
            text_states.update(uncond=negative_prompt_embeds, retrieval_only=negative_prompt_embeds)
        if tokens_mode:
            null = conditioner.null_tokens(rows).to(device, prompt_embeds.dtype)  # (B, T, C)
            ret = null
            if retrieval:
                ks = {len(n) for n in per_prompt}
                if len(ks) != 1:
                    raise ValueError(f"conditioned mode needs the same k for every prompt, got {sorted(ks)}")
                image_emb = torch.stack([n.image_embeds for n in per_prompt]).repeat_interleave(
                    num_images_per_prompt, 0
                )
                text_emb = torch.stack([n.text_embeds for n in per_prompt]).repeat_interleave(
                    num_images_per_prompt, 0
                )
                ret = conditioner(image_emb.to(device), text_emb.to(device)).to(
                    prompt_embeds.dtype
                )  # (B, T, C)
            extra = {"cond": ret, "retrieval_only": ret, "text_only": null, "uncond": null}
            text_states = {b: torch.cat([s, extra[b]], dim=1) for b, s in text_states.items()}

        # 4. Prepare timesteps
        timesteps, num_inference_steps = retrieve_timesteps(self.scheduler, num_inference_steps, device)
        step_kinds = guidance.step_kinds(len(timesteps))

        # 5. Prepare latent variables
        latents = self.prepare_latents(
            rows, self.unet.config.in_channels, height, width, prompt_embeds.dtype, device, generator, latents
        )

        # 6. Prepare extra step kwargs and the guidance embedding of distilled UNets
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)
        timestep_cond = None
        if self.unet.config.time_cond_proj_dim is not None:
            guidance_scale_tensor = torch.tensor(self.guidance_scale - 1).repeat(rows)
            timestep_cond = self.get_guidance_scale_embedding(
                guidance_scale_tensor, embedding_dim=self.unet.config.time_cond_proj_dim
            ).to(device=device, dtype=latents.dtype)

        # 7. Prepare reference attention (training-free mode): references, state, processors
        processors: dict[str, Any] = {}
        use_reference = retrieval and mode == "reference"
        if use_reference:
            state, ref_latents, ref_states = self._reference_setup(
                per_prompt, num_images_per_prompt, height, width, tuple(latents.shape[-2:]), reference_weight,
                use_boxes, prompt_embeds.dtype,
            )  # fmt: skip
            processors = reference_processors(self.unet, resolve_layers(self.unet, layers), state)
            ref_generator = torch.Generator(device="cpu").manual_seed(int(reference_seed))

        # 7b. Prepare neighbour blending: each image's top neighbour moved to its box, encoded and fitted
        blender = None
        if retrieval and mode == "blend":
            blender = self._blend_setup(
                per_prompt, target_boxes, num_images_per_prompt, height, width, blend, reference_seed
            )

        # 8. Denoising loop (reference processors installed for the loop only)
        num_warmup_steps = len(timesteps) - num_inference_steps * self.scheduler.order
        self._num_timesteps = len(timesteps)
        with (
            attn_processors_installed(self.unet, processors),
            self.progress_bar(total=num_inference_steps) as progress_bar,
        ):
            for i, t in enumerate(timesteps):
                branches = BRANCHES[step_kinds[i]] if two_branches else ("cond",)

                # 8.1 Record: neighbours noised to t; keys / values cached once per branch that uses them
                if use_reference:
                    record = tuple(b for b in branches if state.needs_references(b))
                    noise = randn_tensor(
                        ref_latents.shape, generator=ref_generator, device=device, dtype=ref_latents.dtype
                    )
                    ref_t = self.scheduler.add_noise(ref_latents, noise, t.reshape(1))  # (R, 4, h, w)
                    ref_input = torch.cat([ref_t] * len(record))
                    if hasattr(self.scheduler, "scale_model_input"):
                        ref_input = self.scheduler.scale_model_input(ref_input, t)
                    ref_cond = (
                        None if timestep_cond is None else timestep_cond[:1].expand(ref_input.shape[0], -1)
                    )
                    with state.recording(record):
                        self.unet(
                            ref_input, t, encoder_hidden_states=torch.cat([ref_states[b] for b in record]),
                            timestep_cond=ref_cond, return_dict=False,
                        )  # fmt: skip

                # 8.2 Expand the latents: one chunk per branch
                latent_model_input = torch.cat([latents] * len(branches)) if len(branches) > 1 else latents
                if hasattr(self.scheduler, "scale_model_input"):
                    latent_model_input = self.scheduler.scale_model_input(latent_model_input, t)

                # 8.3 Predict the noise residual of every branch
                encoder_states = (
                    torch.cat([text_states[b] for b in branches])
                    if len(branches) > 1
                    else text_states["cond"]
                )
                attending = state.attending(branches) if use_reference else contextlib.nullcontext()
                with attending:
                    noise_pred = self.unet(
                        latent_model_input,
                        t,
                        encoder_hidden_states=encoder_states,
                        timestep_cond=None
                        if timestep_cond is None
                        else timestep_cond.repeat(len(branches), 1),
                        return_dict=False,
                    )[0]
                if use_reference:
                    state.cache.clear()

                # 8.4 Guidance: baseline + w * (full - baseline)
                if len(branches) > 1:
                    baseline, full = noise_pred.chunk(2)
                    noise_pred = combine_guidance(baseline, full, guidance.scale(step_kinds[i]))

                # 8.5 Compute the previous noisy sample x_t -> x_t-1
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
                if blender is not None:
                    latents = blender.after_step(self.scheduler, latents, i, timesteps)

        # 9. Decode
        image, has_nsfw_concept = decode_latents(
            self, latents, output_type, generator, safety_check=True, device=device, dtype=prompt_embeds.dtype
        )
        self.maybe_free_model_hooks()

        if not return_dict:
            return (image, has_nsfw_concept)
        return RetrievalPipelineOutput(
            images=image,
            nsfw_content_detected=has_nsfw_concept,
            mode=mode if retrieval else None,
            step_kinds=list(step_kinds) if two_branches else ["single"] * len(timesteps),
            neighbours=per_prompt,
        )


RetrievalAugmentedPipeline.__call__.__doc__ = (
    RetrievalAugmentedPipeline.__call__.__doc__ or ""
) + EXAMPLE_DOC_STRING
