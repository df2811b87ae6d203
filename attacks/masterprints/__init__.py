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
"""

from .checkpoint import FileCheckpoint, MemoryCheckpoint
from .evaluation import (
    FoolingReport,
    PromptFooling,
    RealImageBank,
    evaluate_fooling,
    related_prompts,
    zero_shot_accuracy,
)
from .mining import BudgetConfig, MiningResult, Progress, mine
from .objective import MultiPromptObjective, ObjectiveConfig, aggregate
from .optimizers import OPTIMIZERS, MasterPrintOptimizer, build_optimizer
from .prompts import MAX_PROMPTS, load_prompts
from .scorers import BlackBoxScorer, CLIPScorer, Scorer, SigLIPScorer
from .spaces import SPACES, SearchSpace, build_space, load_start_image

__all__ = [
    "MAX_PROMPTS",
    "OPTIMIZERS",
    "SPACES",
    "BlackBoxScorer",
    "BudgetConfig",
    "CLIPScorer",
    "FileCheckpoint",
    "FoolingReport",
    "MasterPrintOptimizer",
    "MemoryCheckpoint",
    "MiningResult",
    "MultiPromptObjective",
    "ObjectiveConfig",
    "Progress",
    "PromptFooling",
    "RealImageBank",
    "Scorer",
    "SearchSpace",
    "SigLIPScorer",
    "aggregate",
    "build_optimizer",
    "build_space",
    "evaluate_fooling",
    "load_prompts",
    "load_start_image",
    "mine",
    "related_prompts",
    "zero_shot_accuracy",
]
