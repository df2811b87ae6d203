"""Captioners: images in, one caption per image out.

A captioner is anything with ``caption(images) -> list[str]`` (the :class:`Captioner` protocol).
Adapters cover transformers' image-to-text models through their ``generate`` method (BLIP, GIT,
VisionEncoderDecoder, the toy captioner) and KOSMOS-2 with its grounding prompt; a fixed caption
(user-given, empty, or the ground truth passed per call) needs no model at all.

Presets (resolved by :func:`load_captioner`):

=============  ==========================================  =================================  ==========
name           model                                       prompt                             new tokens
=============  ==========================================  =================================  ==========
``toy``        the toy world's captioner (preset ``toy``)   none                               48
``blip-base``  ``Salesforce/blip-image-captioning-base``    none                               30
``blip-large`` ``Salesforce/blip-image-captioning-large``   none                               30
``kosmos2``    ``microsoft/kosmos-2-patch14-224``           ``"<grounding> An image of"``      30
=============  ==========================================  =================================  ==========

The generation limit is the caption's length in tokens: the toy world's grammar needs up to 38 for a
scene of four objects, so its preset allows 48 (what its own evaluation uses); a hub id or a folder
gets 30.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from attacks.image.ops import check_images, to_pil
from workbench import loading
from workbench.runtime import Runtime

if TYPE_CHECKING:
    from workbench.runtime import Runtime

logger = logging.getLogger(__name__)

KOSMOS2_PROMPT = "<grounding> An image of"

CAPTIONER_PRESETS: dict[str, dict[str, Any]] = {
    # the toy world's captions run to 38 tokens for four objects: a 30-token limit cuts off the fourth
    "toy": {"model": "toy", "kind": "generic", "max_new_tokens": 48},
    "blip-base": {"model": "Salesforce/blip-image-captioning-base", "kind": "generic"},
    "blip-large": {"model": "Salesforce/blip-image-captioning-large", "kind": "generic"},
    "kosmos2": {"model": "microsoft/kosmos-2-patch14-224", "kind": "kosmos2"},
}


@runtime_checkable
class Captioner(Protocol):
    """``caption(images (B, 3, H, W) float in [0, 1]) -> list[str]`` of length B."""

    def caption(self, images: torch.Tensor) -> list[str]: ...


class FixedCaptioner:
    """The same caption for every image (a user-given caption, or ``""`` for no caption).

    Example:
        >>> FixedCaptioner("a red circle").caption(torch.rand(2, 3, 8, 8))
        ['a red circle', 'a red circle']
    """

    def __init__(self, text: str = "") -> None:
        self.text = text

    def caption(self, images: torch.Tensor) -> list[str]:
        return [self.text] * images.shape[0]

    def __repr__(self) -> str:
        return f"FixedCaptioner({self.text!r})"


class TransformersCaptioner:
    """Any transformers image-to-text model with ``generate`` (BLIP, GIT, VisionEncoderDecoder).

    The processor turns PIL images (and the optional text ``prompt``) into model inputs; the model's
    ``generate`` returns token ids that ``processor.batch_decode(skip_special_tokens=True)`` turns into
    text, then ``postprocess`` (if given) cleans each caption. All images go through one ``generate``
    call.

    Args:
        model: a transformers model in eval mode, on its device.
        processor: its processor (image processor + tokenizer).
        prompt: text that conditions generation (``None`` for unconditional captioning).
        max_new_tokens: generation length limit.
        num_beams: 1 for greedy decoding.
        postprocess: caption -> caption.
        strip_prompt: remove ``prompt`` from the front of each decoded caption.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        prompt: str | None = None,
        max_new_tokens: int = 30,
        num_beams: int = 1,
        postprocess: Callable[[str], str] | None = None,
        strip_prompt: bool = False,
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.postprocess = postprocess
        self.strip_prompt = strip_prompt

    def model_inputs(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        pil = [to_pil(image) for image in images]
        if self.prompt is None:
            inputs = self.processor(images=pil, return_tensors="pt")
        else:
            inputs = self.processor(
                images=pil, text=[self.prompt] * len(pil), return_tensors="pt", padding=True
            )
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        return {
            k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device))
            for k, v in inputs.items()
        }

    @torch.no_grad()
    def caption(self, images: torch.Tensor) -> list[str]:
        """Caption a batch.

        Args:
            images (`torch.Tensor` of shape `(B, 3, H, W)`): float in [0, 1].

        Returns:
            `list[str]` of length B.
        """
        check_images(images)
        inputs = self.model_inputs(images)
        ids = self.model.generate(
            **inputs, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False
        )  # (B, T)
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        out = []
        for text in texts:
            if self.postprocess is not None:
                text = self.postprocess(text)
            if self.strip_prompt and self.prompt and text.startswith(self.prompt):
                text = text[len(self.prompt) :]
            out.append(" ".join(text.split()))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, prompt={self.prompt!r})"


class Kosmos2Captioner(TransformersCaptioner):
    """KOSMOS-2 (``Kosmos2ForConditionalGeneration``) prompted with ``"<grounding> An image of"``;
    grounding tags and boxes are removed with the processor's ``post_process_generation``, so a
    caption reads ``"An image of a snowman warming himself by a fire."``."""

    def __init__(
        self, model: Any, processor: Any, prompt: str = KOSMOS2_PROMPT, max_new_tokens: int = 30
    ) -> None:
        super().__init__(
            model,
            processor,
            prompt=prompt,
            max_new_tokens=max_new_tokens,
            postprocess=lambda text: processor.post_process_generation(text, cleanup_and_extract=True)[0],
        )

    @torch.no_grad()
    def caption(self, images: torch.Tensor) -> list[str]:
        check_images(images)
        inputs = self.model_inputs(images)
        ids = self.model.generate(
            pixel_values=inputs["pixel_values"],
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            image_embeds=None,
            image_embeds_position_mask=inputs["image_embeds_position_mask"],
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
        )  # (B, T)
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        return [" ".join(self.postprocess(text).split()) for text in texts]


def load_captioner(name: str, runtime: Runtime | None = None) -> Captioner:
    """A captioner from a preset name (see the module docstring), ``"none"`` (empty caption),
    ``"fixed:<text>"``, or a hub id / local folder of a transformers image-to-text model.

    Raises:
        ValueError: unknown preset; the model loader's own error when weights are missing offline.
    """
    if name == "none":
        return FixedCaptioner("")
    if name.startswith("fixed:"):
        return FixedCaptioner(name[len("fixed:") :])
    preset = CAPTIONER_PRESETS.get(
        name, {"model": name, "kind": "kosmos2" if "kosmos" in name.lower() else "generic"}
    )

    model, processor = loading.load_captioner(preset["model"], runtime or Runtime(seed=0))
    max_new_tokens = preset.get("max_new_tokens", 30)
    if preset["kind"] == "kosmos2":
        return Kosmos2Captioner(model, processor, max_new_tokens=max_new_tokens)
    return TransformersCaptioner(model, processor, max_new_tokens=max_new_tokens)
