"""The interface every watermark follows.

A watermark has a key (its payload bits and any secret pattern, derived from a seed in its config)
and four operations on images ``(B, 3, H, W)`` float in [0, 1]:

- ``embed(images, payload_bits=None) -> images``: the watermarked images, same shape;
- ``decode(images) -> (B, L)`` float bits (``L = num_bits``; 0 for a zero-bit watermark such as Tree-Ring);
- ``score(images) -> (B,)``: a continuous detection score, higher = more watermarked;
- ``save_key(path)`` / ``load_key(path)``: the key in a JSON file (config, payload, fingerprint).

Generation-time watermarks (``kind = "generation"``) also have ``generate(pipe, prompts, generator)``,
which sets the initial latents of a diffusers Stable Diffusion pipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from attacks.image.base import check_images
from attacks.watermarks.payload import (
    PayloadLike,
    bit_agreement,
    bits_to_string,
    parse_payload,
    random_payload,
)
from attacks.watermarks.registry import WATERMARKS
from workbench.config import MAX_SEED, ConfigSection

logger = logging.getLogger(__name__)

KEY_FORMAT_VERSION = 1


class WatermarkConfig(ConfigSection):
    """Settings shared by every watermark.

    Args:
        seed: seeds the key (random payload, secret patterns): same seed, same key.
        payload: the payload as a bit string (``None``: random bits from ``seed``).
    """

    seed: int = Field(0, ge=0, le=MAX_SEED)
    payload: str | None = None


class Watermark:
    """Base class; subclasses set ``name``, ``kind``, ``config_class`` and implement
    ``_embed`` / ``_decode`` (and ``num_bits``)."""

    name: ClassVar[str] = ""
    kind: ClassVar[Literal["post_hoc", "generation"]] = "post_hoc"
    config_class: ClassVar[type[WatermarkConfig]] = WatermarkConfig

    def __init__(self, config: WatermarkConfig | dict[str, Any] | None = None, **overrides: Any) -> None:
        if config is None:
            config = {}
        if isinstance(config, WatermarkConfig):
            config = config.model_dump()
        self.config = self.config_class(**{**config, **overrides})
        self._payload: torch.Tensor | None = None

    # ------------------------------------------------------------------ key
    @property
    def num_bits(self) -> int:
        raise NotImplementedError

    @property
    def payload(self) -> torch.Tensor:
        """The key's payload ``(num_bits,)`` float bits (from the config, else random from ``seed``)."""
        if self._payload is None:
            if self.config.payload is not None:
                self._payload = parse_payload(self.config.payload, self.num_bits)
            else:
                self._payload = random_payload(self.num_bits, torch.Generator().manual_seed(self.config.seed))
        return self._payload

    def set_payload(self, bits: PayloadLike) -> None:
        """Replace the key's payload (checked against ``num_bits``)."""
        self._payload = parse_payload(bits, self.num_bits)
        self.config = self.config.model_copy(update={"payload": bits_to_string(self._payload)})

    def key_tensors(self) -> dict[str, torch.Tensor]:
        """The secret tensors of the key (fingerprinted in the key file)."""
        return {"payload": self.payload}

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name, tensor in sorted(self.key_tensors().items()):
            digest.update(name.encode())
            t = tensor.detach().cpu()
            if t.is_complex():
                t = torch.view_as_real(t)
            digest.update(t.float().round(decimals=5).numpy().tobytes())
        return digest.hexdigest()[:16]

    def save_key(self, path: str | Path) -> Path:
        """Write the key (method, config with payload, fingerprint) as JSON; returns the path."""
        path = Path(path)
        record = {
            "format": KEY_FORMAT_VERSION,
            "method": self.name,
            "config": {**self.config.model_dump(mode="json"), "payload": bits_to_string(self.payload)},
            "num_bits": self.num_bits,
            "fingerprint": self.fingerprint(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(record, indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load_key(cls, path: str | Path, **kwargs: Any) -> Watermark:
        """Rebuild a watermark from a key file written by :meth:`save_key` (on the base class the
        method is looked up in the registry; ``kwargs`` go to the constructor, e.g. ``pipe=``).

        Raises:
            ValueError: unreadable file, another method's key, or a fingerprint that does not
                match the rebuilt key (the key was made with different code or settings).
        """
        path = Path(path)
        try:
            record = json.loads(path.read_text())
            method, config = record["method"], record["config"]
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"{path} is not a watermark key file ({err})") from err
        target = cls
        if not cls.name:
            target = WATERMARKS.get(method)
        elif method != cls.name:
            raise ValueError(f"{path} holds a {method!r} key, not a {cls.name!r} one")
        if target.kind != "generation":  # post-hoc watermarks take no model
            kwargs = {k: v for k, v in kwargs.items() if k not in ("pipe", "runtime")}
        watermark = target(config, **kwargs)
        expected = record.get("fingerprint")
        if expected and watermark.fingerprint() != expected:
            raise ValueError(
                f"key in {path} rebuilt with a different fingerprint ({watermark.fingerprint()} != {expected})"
            )
        return watermark

    # ------------------------------------------------------------------ images
    def _embed(self, images: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _decode(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, images: torch.Tensor, payload_bits: PayloadLike | None = None) -> torch.Tensor:
        """Watermark a batch.

        Args:
            images (`torch.Tensor` of shape `(B, 3, H, W)`): float in [0, 1].
            payload_bits: ``(L,)`` or ``(B, L)`` bits (``None``: the key's payload).

        Returns:
            `torch.Tensor` of shape `(B, 3, H, W)` in [0, 1].
        """
        check_images(images)
        payload = self.payload if payload_bits is None else parse_payload(payload_bits, self.num_bits)
        payload = parse_payload(payload, self.num_bits, batch_size=images.shape[0])  # (B, L)
        out = self._embed(images, payload)
        return out.clamp(0, 1).to(device=images.device, dtype=images.dtype)

    @torch.no_grad()
    def decode(self, images: torch.Tensor) -> torch.Tensor:
        """Decoded bits.

        Args:
            images (`torch.Tensor` of shape `(B, 3, H, W)`): float in [0, 1].

        Returns:
            `torch.Tensor` of shape `(B, num_bits)`, float in {0, 1}.
        """
        check_images(images)
        return self._decode(images).float().cpu()

    @torch.no_grad()
    def score(self, images: torch.Tensor, payload_bits: PayloadLike | None = None) -> torch.Tensor:
        """Continuous detection score ``(B,)``, higher = more likely watermarked: the fraction of
        decoded bits equal to the payload (the key's unless ``payload_bits`` is given)."""
        payload = self.payload if payload_bits is None else parse_payload(payload_bits, self.num_bits)
        return bit_agreement(self.decode(images), payload)

    @torch.no_grad()
    def analyse(
        self, images: torch.Tensor, payload_bits: PayloadLike | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(bits (B, L), score (B,))`` in one pass (decoding once)."""
        payload = self.payload if payload_bits is None else parse_payload(payload_bits, self.num_bits)
        bits = self.decode(images)
        return bits, bit_agreement(bits, payload)

    def bit_accuracy(self, images: torch.Tensor, payload_bits: PayloadLike | None = None) -> torch.Tensor:
        """``(B,)`` fraction of correctly decoded bits (NaN for a zero-bit watermark)."""
        payload = self.payload if payload_bits is None else parse_payload(payload_bits, self.num_bits)
        return bit_agreement(self.decode(images), payload)

    def describe(self) -> dict[str, Any]:
        """Method, kind, config and payload length, JSON-serialisable."""
        return {
            "watermark": self.name,
            "kind": self.kind,
            "num_bits": self.num_bits,
            "config": self.config.model_dump(mode="json"),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
