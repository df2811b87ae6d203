"""Install attention processors on selected layers and put the original ones back exactly.

``unet.set_attn_processor`` with a full ``{key: processor}`` dict is the only mechanism: no ``forward`` is
patched. :func:`attn_processors_installed` restores the very processor objects that were there before
(types, instances and trained weights of module processors), also when the body raises.

Example:
    >>> from diffusers.models.attention_processor import AttnProcessor
    >>> from workbench.dummy import dummy_unet
    >>> unet = dummy_unet()
    >>> before = dict(unet.attn_processors)
    >>> name = "up_blocks.1.attentions.0.transformer_blocks.0.attn1"
    >>> with attn_processors_installed(unet, {name: AttnProcessor()}):
    ...     type(unet.attn_processors[name + ".processor"]).__name__
    'AttnProcessor'
    >>> all(unet.attn_processors[k] is p for k, p in before.items())
    True
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from workbench.attention.selection import PROCESSOR_SUFFIX, strip_processor_suffix

logger = logging.getLogger(__name__)

__all__ = ["attn_processors_installed", "restore_processors", "swap_processors"]


def swap_processors(unet: Any, processors: Mapping[str, Any]) -> dict[str, Any]:
    """Set ``processors`` (keyed by module name, ``.processor`` optional) on their layers, keep the rest.

    Returns:
        The complete previous ``{key: processor}`` mapping, to pass to :func:`restore_processors`.

    Raises:
        KeyError: a name is not an attention layer of ``unet``.
    """
    original = dict(unet.attn_processors)
    wanted = {strip_processor_suffix(k) + PROCESSOR_SUFFIX: p for k, p in processors.items()}
    unknown = sorted(set(wanted) - set(original))
    if unknown:
        shown = ", ".join(strip_processor_suffix(k) for k in list(original)[:4])
        raise KeyError(
            f"{strip_processor_suffix(unknown[0])!r} is not an attention layer of this UNet "
            f"({len(unknown)} unknown name(s)); layers look like: {shown} ..."
        )
    # set_attn_processor pops from the dict it is given: hand it a fresh one
    unet.set_attn_processor({**original, **wanted})
    return original


def restore_processors(unet: Any, original: Mapping[str, Any]) -> None:
    """Put back the mapping returned by :func:`swap_processors` (the same processor objects)."""
    unet.set_attn_processor(dict(original))


@contextlib.contextmanager
def attn_processors_installed(unet: Any, processors: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Context manager: ``processors`` on their layers inside the block, the original ones after it.

    Args:
        unet: a diffusers model with ``attn_processors`` / ``set_attn_processor``.
        processors: ``{module name: processor}``; an empty mapping installs nothing and touches nothing.

    Yields:
        The original ``{key: processor}`` mapping.
    """
    if not processors:
        yield dict(unet.attn_processors)
        return
    original = swap_processors(unet, processors)
    logger.debug("installed %d attention processor(s)", len(processors))
    try:
        yield original
    finally:
        restore_processors(unet, original)
        logger.debug("restored %d original attention processor(s)", len(original))
