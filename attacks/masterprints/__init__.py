"""CLIPMasterPrints: mining fooling master images for contrastive image-text models, their
evaluation, and their mitigations (after Freiberger et al., "Fooling Contrastive Language-Image
Pre-trained Models with CLIPMasterPrints").

One image is optimised so that a CLIP-like model scores it above real images for many prompts at
once: the loss is the negated minimum score over the target prompts. Optimisers (gradient or
black-box through nevergrad) move parameters of a search space (raw pixels, an L-inf ball around a
start image, or the latent of a VAE decoder).

Example:
    >>> from attacks.masterprints import MultiPromptObjective, OPTIMIZERS, SPACES
    >>> sorted(OPTIMIZERS.names())
    ['adam', 'cma', 'diagonal_cma', 'one_plus_one', 'pgd', 'sgd']
    >>> sorted(SPACES.names())
    ['linf_ball', 'pixels', 'vae_latent']

Names are imported on first use, so ``import attacks.masterprints.cli`` stays fast.
"""

from __future__ import annotations

from workbench.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "FileCheckpoint": "attacks.masterprints.checkpoint",
    "MemoryCheckpoint": "attacks.masterprints.checkpoint",
    "FoolingReport": "attacks.masterprints.evaluation",
    "PromptFooling": "attacks.masterprints.evaluation",
    "RealImageBank": "attacks.masterprints.evaluation",
    "evaluate_fooling": "attacks.masterprints.evaluation",
    "related_prompts": "attacks.masterprints.evaluation",
    "zero_shot_accuracy": "attacks.masterprints.evaluation",
    "BudgetConfig": "attacks.masterprints.mining",
    "MiningResult": "attacks.masterprints.mining",
    "Progress": "attacks.masterprints.mining",
    "mine": "attacks.masterprints.mining",
    "MultiPromptObjective": "attacks.masterprints.objective",
    "ObjectiveConfig": "attacks.masterprints.objective",
    "aggregate": "attacks.masterprints.objective",
    "OPTIMIZERS": "attacks.masterprints.optimizers",
    "MasterPrintOptimizer": "attacks.masterprints.optimizers",
    "build_optimizer": "attacks.masterprints.optimizers",
    "MAX_PROMPTS": "attacks.masterprints.prompts",
    "load_prompts": "attacks.masterprints.prompts",
    "BlackBoxScorer": "attacks.masterprints.scorers",
    "CLIPScorer": "attacks.masterprints.scorers",
    "Scorer": "attacks.masterprints.scorers",
    "SigLIPScorer": "attacks.masterprints.scorers",
    "SPACES": "attacks.masterprints.spaces",
    "SearchSpace": "attacks.masterprints.spaces",
    "build_space": "attacks.masterprints.spaces",
    "load_start_image": "attacks.masterprints.spaces",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
