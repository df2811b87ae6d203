"""The attention-processor layer shared by the generators: layer selection by block names, install /
restore of processors, and reference attention (multi-reference self-attention) with its K/V cache.

Example:
    >>> import torch
    >>> from workbench.attention import (
    ...     ReferenceAttentionState, attn_processors_installed, reference_processors)
    >>> from workbench.dummy import dummy_unet
    >>> unet = dummy_unet()
    >>> refs = torch.randn(2, 4, 16, 16)                       # two reference latents
    >>> state = ReferenceAttentionState(num_references=2, reference_hw=(16, 16), mask_weights=3.0)
    >>> text = torch.randn(2, 77, 32)
    >>> with attn_processors_installed(unet, reference_processors(unet, "freecustom", state)):
    ...     with state.recording(("cond",)):
    ...         _ = unet(refs, 10, encoder_hidden_states=text)
    ...     with state.attending(("cond",)):
    ...         out = unet(torch.randn(3, 4, 16, 16), 10, encoder_hidden_states=text[:1].expand(3, -1, -1)).sample
    >>> tuple(out.shape)
    (3, 4, 16, 16)
"""

from workbench.attention.binding import (
    BIND_MODES,
    ConceptBinding,
    CrossAttentionCapture,
    capture_processors,
    concept_token_indices,
)
from workbench.attention.install import attn_processors_installed, restore_processors, swap_processors
from workbench.attention.masks import MASK_RESIZE, masks_to_tokens, reference_logit_bias, token_grid
from workbench.attention.reference import ReferenceAttnProcessor, reference_attention, reference_processors
from workbench.attention.selection import LAYER_PRESETS, layer_names, match_pattern, resolve_layers
from workbench.attention.state import ReferenceAttentionState, ReferenceKVCache

__all__ = [
    "BIND_MODES",
    "LAYER_PRESETS",
    "MASK_RESIZE",
    "ConceptBinding",
    "CrossAttentionCapture",
    "ReferenceAttentionState",
    "ReferenceAttnProcessor",
    "ReferenceKVCache",
    "attn_processors_installed",
    "capture_processors",
    "concept_token_indices",
    "layer_names",
    "masks_to_tokens",
    "match_pattern",
    "reference_attention",
    "reference_logit_bias",
    "reference_processors",
    "resolve_layers",
    "restore_processors",
    "swap_processors",
    "token_grid",
]
