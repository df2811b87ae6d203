"""``RetrievalAugmentedPipeline``: text-to-image generation with (image, text) neighbours retrieved from a
multimodal knowledge base as references (Re-Imagen; RDM), on any SD-1.x / SD-2.x-shaped pipeline.

The pipeline holds what every way of conditioning on the neighbours shares (prompts, retrieval, guidance
branches, latents, the denoising loop, decoding); each mode is one file of :mod:`generators.retrieval.methods`
with its hooks into the loop (:class:`~generators.retrieval.methods.mode.RetrievalMode`):

- ``mode="reference"`` (training-free): reference attention over the noised neighbours (:mod:`.methods.reference`);
- ``mode="conditioned"`` (trained): the conditioner's tokens in cross-attention (:mod:`.methods.conditioned`);
- ``mode="blend"`` (training-free): the top neighbour's subject held in its box (:mod:`.methods.blend`).

Guidance is ordinary single classifier-free guidance or Re-Imagen's interleaved guidance (text-enhanced
and retrieval-enhanced steps alternated with a ratio; :mod:`generators.retrieval.guidance`).

Without neighbours and without a conditioner nothing is installed and the output is the stock
``StableDiffusionPipeline``'s for the same seed, bit for bit. ``save_pretrained`` / ``from_pretrained`` are
diffusers' own; the conditioner is the optional component ``retrieval_conditioner``.
"""

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, ModelMixin, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import retrieve_timesteps
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput
from transformers import CLIPImageProcessor, CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from generators.retrieval.blend import BlendConfig
from generators.retrieval.conditioner import RetrievalConditioner
from generators.retrieval.guidance import BRANCHES, GuidanceConfig, combine_guidance
from generators.retrieval.methods.mode import RETRIEVAL_MODES, ModeOptions, RetrievalMode
from generators.retrieval.retriever import RetrievedNeighbours, retrieve
from generators.sampling import decode_latents, scheduler_step
from workbench.attention import attn_processors_installed
from workbench.latents import encode_images
from workbench.loading.storage import save_model_half
from workbench.sampling import PIPELINE_SAMPLING

logger = logging.getLogger(__name__)

__all__ = [
    "CONDITIONER_FOLDER",
    "EXAMPLE_DOC_STRING",
    "RetrievalAugmentedPipeline",
    "RetrievalPipelineOutput",
]

CONDITIONER_FOLDER = "retrieval_conditioner"
"""The conditioner's sub-folder of an export (the pipeline's optional component of that name)."""

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
        """``from_pretrained`` of a fine-tuned export (a Stable Diffusion folder with ``retrieval_conditioner/``),
        safetensors only, no safety checker. Also reads exports whose ``model_index.json`` is a plain
        ``StableDiffusionPipeline``'s (the conditioner sub-folder beside it)."""
        folder = Path(folder)
        if not (folder / CONDITIONER_FOLDER / "config.json").is_file():
            raise FileNotFoundError(
                f"{str(folder)!r} has no {CONDITIONER_FOLDER}/ (a retrieval-conditioned export); train one with "
                "generators.retrieval.train.RetrievalTrainer, or use mode='reference' on a stock pipeline"
            )
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        if CONDITIONER_FOLDER not in index:
            kwargs.setdefault(
                CONDITIONER_FOLDER,
                RetrievalConditioner.from_pretrained(folder / CONDITIONER_FOLDER, use_safetensors=True),
            )
        return cls.from_pretrained(
            folder, safety_checker=None, requires_safety_checker=False, use_safetensors=True, **kwargs
        )

    def save_pretrained(self, save_directory: str | Path, half: bool = False, **kwargs: Any) -> None:
        """diffusers' ``save_pretrained`` (safetensors; the conditioner in ``retrieval_conditioner/``);
        ``half`` stores the diffusers models (UNet, VAE, conditioner) in float16, loaded back as float32."""
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(save_directory, **kwargs)
        if half:
            for name, component in self.components.items():
                if isinstance(component, ModelMixin):
                    save_model_half(component, Path(save_directory) / name)

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
        guidance_scale: float = PIPELINE_SAMPLING.guidance_scale,
        layers: str | Sequence[str] = "decoder",
        reference_weight: float = 0.0,
        use_boxes: bool = True,
        target_boxes: Sequence[tuple[float, float, float, float] | None] | None = None,
        blend: BlendConfig | dict[str, Any] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = PIPELINE_SAMPLING.num_inference_steps,
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
        if mode not in RETRIEVAL_MODES:
            raise ValueError(
                f"mode must be 'auto' or one of {', '.join(RETRIEVAL_MODES.names())}; got {mode!r}"
            )
        mode_class: type[RetrievalMode] = RETRIEVAL_MODES.get(mode)
        mode_class.check(self)

        # 1. Check inputs and get the neighbours; the mode's hooks (none: the stock pipeline; a conditioner
        #    without neighbours: its null tokens, the baseline on the same weights)
        self.check_inputs(prompt, height, width, None, negative_prompt)
        per_prompt = self._neighbours_per_prompt(
            neighbours, knowledge_base, prompts, k, retrieval_target, retrieval_filters
        )
        retrieval = per_prompt is not None
        if guidance.scheme == "interleaved" and not retrieval:
            raise ValueError("interleaved guidance needs neighbours (pass neighbours= or knowledge_base=)")
        options = ModeOptions(layers, reference_weight, use_boxes, target_boxes, blend, reference_seed)
        method: RetrievalMode | None = None
        if retrieval:
            method = mode_class(self, per_prompt, num_images_per_prompt, options)
        elif conditioner is not None:
            method = RETRIEVAL_MODES.get("conditioned")(self, None, num_images_per_prompt, options)
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
        if method is not None:
            text_states = method.encoder_states(text_states, rows)

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

        # 7. Prepare the mode (references and processors, or the blended subjects)
        if method is not None:
            method.prepare(height, width, latents, prompt_embeds.dtype)

        # 8. Denoising loop (the mode's processors installed for the loop only)
        num_warmup_steps = len(timesteps) - num_inference_steps * self.scheduler.order
        self._num_timesteps = len(timesteps)
        with (
            attn_processors_installed(self.unet, method.processors() if method is not None else {}),
            self.progress_bar(total=num_inference_steps) as progress_bar,
        ):
            for i, t in enumerate(timesteps):
                branches = BRANCHES[step_kinds[i]] if two_branches else ("cond",)

                # 8.1 The mode before the UNet call (reference: record the neighbours' keys / values)
                if method is not None:
                    method.before_unet(t, branches, timestep_cond)

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
                with method.attending(branches) if method is not None else contextlib.nullcontext():
                    noise_pred = self.unet(
                        latent_model_input,
                        t,
                        encoder_hidden_states=encoder_states,
                        timestep_cond=None
                        if timestep_cond is None
                        else timestep_cond.repeat(len(branches), 1),
                        return_dict=False,
                    )[0]
                if method is not None:
                    method.after_unet()

                # 8.4 Guidance: baseline + w * (full - baseline)
                if len(branches) > 1:
                    baseline, full = noise_pred.chunk(2)
                    noise_pred = combine_guidance(baseline, full, guidance.scale(step_kinds[i]))

                # 8.5 Compute the previous noisy sample x_t -> x_t-1, then the mode's correction (blend)
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
                if method is not None:
                    latents = method.after_step(latents, i, timesteps)

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
