"""Library messages a user cannot act on, filtered at their source loggers (nothing else is hidden).

- transformers' "``CLIPImageProcessor`` requires torchvision (not installed); falling back to
  ``CLIPImageProcessorPil``": torchvision does not install beside the CPU build of torch, and the PIL
  image processors are the ones this project uses.
- diffusers' "There are modules in ... that should be kept in float32: []": printed on every
  ``model.to(dtype)`` even when the list is empty, i.e. when nothing needs to stay in float32.
"""

from __future__ import annotations

import logging

__all__ = ["install"]

_RULES: dict[str, tuple[str, ...]] = {
    "transformers.utils.import_utils": ("requires torchvision (not installed); falling back to",),
    "diffusers.models.modeling_utils": ("that should be kept in float32: [].",),
}


class _Drop(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(f in message for f in self.fragments)


def install() -> None:
    """Attach the filters (idempotent)."""
    for name, fragments in _RULES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Drop) for f in logger.filters):
            logger.addFilter(_Drop(fragments))
