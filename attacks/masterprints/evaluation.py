"""Evaluation of master images: per-prompt fooling against real images, held-out prompts, transfer
to another model, and zero-shot accuracy (the cost of a mitigation).

Fooling accuracy of a prompt (the paper's metric) is the fraction of the real images of its class whose
score for the prompt is below the master image's. A master image *outranks* a prompt when it beats
every real image of the class (rank 1). Both numbers come from the metrics layer
(:func:`metrics.functional.fooling_accuracy`, :func:`metrics.functional.adversarial_rank`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from metrics.functional import adversarial_rank, fooling_accuracy

from .scorers.base import Scorer

logger = logging.getLogger(__name__)

RealImages = Callable[[str], torch.Tensor]
"""``prompt -> (N, 3, H, W)`` real images of the prompt's class, float in [0, 1]."""


@dataclass
class PromptFooling:
    """One prompt of a fooling evaluation.

    Attributes:
        prompt: the prompt.
        master_score: the master image's score for it.
        best_real_score: the highest score of a real image of its class.
        fooling_accuracy: fraction of those real images scoring below the master image.
        rank: the master image's 1-based rank among itself and the real images (1: above all of them;
            ties count against it).
        n_real: how many real images were compared.
    """

    prompt: str
    master_score: float
    best_real_score: float
    fooling_accuracy: float
    rank: int
    n_real: int

    @property
    def outranks(self) -> bool:
        return self.rank == 1


@dataclass
class FoolingReport:
    """Per-prompt results and their means."""

    per_prompt: list[PromptFooling]

    @property
    def fooling_accuracy(self) -> float:
        """Mean over prompts of the per-prompt fooling accuracy."""
        return sum(p.fooling_accuracy for p in self.per_prompt) / len(self.per_prompt)

    @property
    def outrank_fraction(self) -> float:
        """Fraction of prompts for which the master image beats every real image."""
        return sum(p.outranks for p in self.per_prompt) / len(self.per_prompt)

    def to_metrics(self) -> dict:
        return {
            "fooling_accuracy": self.fooling_accuracy,
            "outrank_fraction": self.outrank_fraction,
            "per_prompt": {
                p.prompt: {
                    "master_score": p.master_score,
                    "best_real_score": p.best_real_score,
                    "fooling_accuracy": p.fooling_accuracy,
                }
                for p in self.per_prompt
            },
        }

    def table(self) -> list[dict]:
        """Rows for a report table (master vs best real image, per prompt)."""
        return [{**asdict(p), "outranks": p.outranks} for p in self.per_prompt]


@torch.no_grad()
def embed_images(scorer: Scorer, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """`(N, D)` unit-norm embeddings of `(N, 3, H, W)` images, in batches."""
    out = [
        scorer.encode_image(images[i : i + batch_size].to(scorer.device))
        for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(out) if out else torch.zeros(0, 1)


class RealImageBank:
    """Real image embeddings per prompt, computed once per scorer.

    Args:
        scorer: the model the real images are embedded with.
        real_images: ``prompt -> (N, 3, H, W)`` real images of the prompt's class.
        batch_size: images per forward pass.
    """

    def __init__(self, scorer: Scorer, real_images: RealImages, batch_size: int = 64) -> None:
        self.scorer = scorer
        self.real_images = real_images
        self.batch_size = batch_size
        self._cache: dict[str, torch.Tensor] = {}

    def embeddings(self, prompt: str) -> torch.Tensor:
        """`(N, D)` embeddings of the real images of ``prompt``."""
        if prompt not in self._cache:
            images = self.real_images(prompt)
            if images.ndim != 4 or images.shape[0] == 0:
                raise ValueError(
                    f"the real-image source returned {tuple(images.shape)} for {prompt!r}; expected (N>0, 3, H, W)"
                )
            self._cache[prompt] = embed_images(self.scorer, images, self.batch_size)
        return self._cache[prompt]


@torch.no_grad()
def evaluate_fooling(
    scorer: Scorer,
    master: torch.Tensor,
    prompts: Sequence[str],
    real: RealImages | RealImageBank,
    batch_size: int = 64,
) -> FoolingReport:
    """Fooling accuracy of a master image for each prompt.

    Args:
        scorer: the model under attack (or another one, for transfer).
        master (`torch.Tensor` of shape `(1, 3, H, W)` or `(3, H, W)`): the master image in [0, 1].
        prompts: the prompts to evaluate (target or held-out).
        real: the real images of each prompt's class (a callable or a :class:`RealImageBank` built
            on ``scorer``, to reuse embeddings).
        batch_size: images per forward pass.

    Returns:
        A :class:`FoolingReport`.
    """
    if not prompts:
        raise ValueError("no prompts to evaluate")
    if master.ndim == 3:
        master = master.unsqueeze(0)
    if master.shape[0] != 1:
        raise ValueError(f"evaluate one master image at a time, got a batch of {master.shape[0]}")
    bank = real if isinstance(real, RealImageBank) else RealImageBank(scorer, real, batch_size)
    if bank.scorer is not scorer:
        raise ValueError("the RealImageBank was built on another scorer; build one per scorer")
    text = scorer.encode_text(list(prompts))  # (P, D)
    master_scores = scorer.similarity(scorer.encode_image(master.to(scorer.device)), text)[0]  # (P,)
    rows = []
    for j, prompt in enumerate(prompts):
        real_scores = scorer.similarity(bank.embeddings(prompt), text[j : j + 1])[:, 0].cpu()  # (N,)
        master_j = master_scores[j : j + 1].cpu()  # (1,)
        rows.append(
            PromptFooling(
                prompt=prompt,
                master_score=float(master_j[0]),
                best_real_score=float(real_scores.max()),
                fooling_accuracy=float(
                    fooling_accuracy(master_j, real_scores[None])[0]
                ),  # (1,) of (1,) vs (1, N)
                rank=int(adversarial_rank(master_j, real_scores[None])[0]),
                n_real=int(real_scores.numel()),
            )
        )
    return FoolingReport(rows)


@torch.no_grad()
def zero_shot_accuracy(
    scorer: Scorer,
    images: torch.Tensor,
    labels: torch.Tensor,
    class_prompts: Sequence[str],
    batch_size: int = 64,
) -> float:
    """Top-1 zero-shot accuracy: each image is assigned the prompt with the highest score.

    Args:
        scorer: the model.
        images (`torch.Tensor` of shape `(N, 3, H, W)`): images in [0, 1].
        labels (`torch.Tensor` of shape `(N,)`): indices into ``class_prompts``.
        class_prompts: one prompt per class.
    """
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(
            f"{images.shape[0]} images and {labels.shape[0]} labels; give one label per image (N > 0)"
        )
    text = scorer.encode_text(list(class_prompts))
    emb = embed_images(scorer, images, batch_size)
    pred = scorer.similarity(emb, text).argmax(dim=1).cpu()
    return float((pred == labels.cpu()).double().mean())


@dataclass
class EmbeddingBound:
    """What the best possible image embedding could do, regardless of any image.

    Attributes:
        margin: ``max_x min_p (score(x, p) - best_real_p)`` over unit embeddings ``x``; negative means
            no embedding at all (hence no image) beats the best real image on every prompt.
        outrank_fraction: fraction of prompts beaten at that ``x``.
        scores: `(P,)` the scores of that ``x``.
    """

    margin: float
    outrank_fraction: float
    scores: torch.Tensor


def embedding_bound(
    scorer: Scorer,
    prompts: Sequence[str],
    best_real: torch.Tensor,
    steps: int = 400,
    temperature: float = 0.01,
) -> EmbeddingBound:
    """The embedding-space limit of master images: optimise a free unit image embedding.

    A master image needs an image embedding close to every target caption at once; CLIP's modality gap
    (text embeddings in a narrow cone, away from real images) is what makes one exist. This finds the
    unit vector with the largest worst-case margin over the real images (soft-min, then the hard
    minimum is reported), a diagnostic of whether a model can be fooled on these prompts at all.

    Args:
        scorer: the model (its text embeddings and score function are used).
        prompts: the target prompts.
        best_real (`torch.Tensor` of shape `(P,)`): the best real image's score per prompt.
        steps: Adam steps on the embedding.
        temperature: the soft-min temperature.
    """
    with torch.no_grad():
        text = scorer.encode_text(list(prompts))  # (P, D)
    best = best_real.to(text.device, text.dtype)
    x = text.mean(dim=0, keepdim=True).clone().requires_grad_(True)  # (1, D): the centre of the text cone
    opt = torch.optim.Adam([x], lr=0.02)
    for _ in range(steps):
        margin = scorer.similarity(torch.nn.functional.normalize(x, dim=-1), text)[0] - best  # (P,)
        loss = temperature * torch.logsumexp(-margin / temperature, dim=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        scores = scorer.similarity(torch.nn.functional.normalize(x, dim=-1), text)[0]
        margin = scores - best
    return EmbeddingBound(float(margin.min()), float((margin > 0).double().mean()), scores.detach().cpu())


def related_prompts(prompts: Sequence[str], templates: Sequence[str]) -> dict[str, str]:
    """Held-out prompts derived from target prompts: ``template.format(noun phrase)``.

    The leading article of a target (``a`` / ``an`` / ``the``) is dropped before formatting, so
    ``"a large {}"`` turns ``"a red circle"`` into ``"a large red circle"``.

    Returns:
        ``{held_out_prompt: target_prompt}``, held-out prompts that are also targets left out.
    """
    out: dict[str, str] = {}
    targets = set(prompts)
    for t in templates:
        if "{}" not in t:
            raise ValueError(f"held-out template {t!r} needs a '{{}}' where the target's noun phrase goes")
    for p in prompts:
        words = p.split()
        noun = " ".join(words[1:]) if len(words) > 1 and words[0].lower() in ("a", "an", "the") else p
        for t in templates:
            h = t.format(noun)
            if h not in targets and h not in out:
                out[h] = p
    return out
