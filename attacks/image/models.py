"""The models that model-backed attacks share (img2img pipelines, captioners), loaded once."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from workbench import loading
from workbench.runtime import Runtime

if TYPE_CHECKING:
    from attacks.paraphrase.captioners import Captioner

logger = logging.getLogger(__name__)


class AttackModels:
    """Loads and caches img2img pipelines and captioners by name, on the runtime's device.

    Models passed in are used as they are (tests inject tiny random-weight ones this way).

    Args:
        runtime: device and dtype for loaded models (``None``: the loader's default).
        img2img: name -> `diffusers.StableDiffusionImg2ImgPipeline`, already loaded.
        captioners: name -> :class:`~attacks.paraphrase.captioners.Captioner`, already loaded.
    """

    def __init__(
        self,
        runtime: Runtime | None = None,
        img2img: dict[str, Any] | None = None,
        captioners: dict[str, Captioner] | None = None,
    ) -> None:
        self.runtime = runtime
        self._img2img: dict[str, Any] = dict(img2img or {})
        self._captioners: dict[str, Any] = dict(captioners or {})

    def img2img(self, name: str) -> Any:
        """The ``StableDiffusionImg2ImgPipeline`` for a preset / hub id / local folder."""
        if name not in self._img2img:
            logger.info("loading img2img pipeline %r", name)
            pipe = loading.load_sd_pipeline(name, self.get_runtime(), kind="img2img")
            pipe.set_progress_bar_config(disable=True)
            self._img2img[name] = pipe
        return self._img2img[name]

    def captioner(self, name: str) -> Captioner:
        """A captioner (see :func:`attacks.paraphrase.captioners.load_captioner`)."""
        if name not in self._captioners:
            # deferred: attacks.paraphrase's package imports attacks.image.base, which imports this module
            from attacks.paraphrase.captioners import load_captioner

            logger.info("loading captioner %r", name)
            self._captioners[name] = load_captioner(name, runtime=self.get_runtime())
        return self._captioners[name]

    def get_runtime(self) -> Runtime:
        """The runtime models load onto (a CPU/accelerate default with seed 0 when none was given)."""
        if self.runtime is None:
            self.runtime = Runtime(seed=0)
        return self.runtime
