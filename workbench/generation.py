"""The generator interface: what a generation method takes and returns, and the registry that names them.

A generation method is a :class:`Generator` subclass in one file, registered by name::

    from pydantic import BaseModel
    from workbench.generation import GenerationRequest, Generator, register_generator

    class MyConfig(BaseModel):
        strength: float = 0.5              # the method's defaults live here, and only here

    @register_generator("my-method")
    class MyMethod(Generator):
        config_class = MyConfig
        requires = ()                      # condition keys it needs, e.g. ("layouts",)

        def generate(self, request: GenerationRequest) -> torch.Tensor:
            return self.pipe(request.prompts, generator=request.generators, output_type="pt",
                             **request.sampling()).images       # (B, 3, H, W) in [0, 1]

It is built from a loaded pipeline and its config section (``build_generator(name, pipe, options)``),
then called once per batch. Experiments, demos, benchmarks and tests iterate over :data:`GENERATORS`;
``requires`` tells them which inputs a method needs beyond prompts (``layouts``, ``region_prompts``,
``concepts``, ``boxes``, ...), passed per image in :attr:`GenerationRequest.conditions`. A method that
needs none runs in the generic generation job (``workbench run`` with ``generate.method: NAME``) and the
``generate`` demo unchanged.

Example:
    >>> import torch
    >>> from workbench.dummy import dummy_sd_pipeline
    >>> pipe = dummy_sd_pipeline(image_size=32)
    >>> stock = build_generator("stock", pipe)
    >>> request = GenerationRequest(["a red circle"], [torch.Generator().manual_seed(0)], num_inference_steps=2)
    >>> tuple(stock(request).shape)
    (1, 3, 32, 32)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from workbench.plugins import load_plugins
from workbench.registry import Registry
from workbench.sampling import WORKBENCH_SAMPLING, Sampling

if TYPE_CHECKING:
    import torch

__all__ = [
    "GENERATORS",
    "GenerationRequest",
    "Generator",
    "NoOptions",
    "StockGenerator",
    "build_generator",
    "register_generator",
]


@dataclass
class GenerationRequest:
    """One batch of images to generate.

    Attributes:
        prompts: ``B`` prompts, one per image.
        generators: ``B`` generators, one per image (image ``i`` draws its noise from ``generators[i]``).
        num_inference_steps / guidance_scale: sampling; ``None`` takes the generator's own
            (:attr:`Generator.sampling`).
        negative_prompt / height / width: further sampling settings (``None``: the pipeline's).
        conditions: per-image inputs a method requires, each a list of ``B`` items
            (``{"layouts": [...], "region_prompts": [...]}``).
        latents: initial latents `(B, C, h, w)` the sampling starts from, image ``i`` from ``latents[i]``
            (``None``: drawn from ``generators``); a generation-time watermark writes its key here. Only
            generators with :attr:`Generator.takes_latents` accept them.
    """

    prompts: list[str]
    generators: list[torch.Generator]
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    negative_prompt: str | None = None
    height: int | None = None
    width: int | None = None
    conditions: dict[str, list[Any]] = field(default_factory=dict)
    latents: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("a generation request needs at least one prompt")
        if len(self.generators) != len(self.prompts):
            raise ValueError(
                f"give one generator per prompt: {len(self.prompts)} prompt(s), {len(self.generators)} generator(s)"
            )
        for key, values in self.conditions.items():
            if len(values) != len(self.prompts):
                raise ValueError(
                    f"condition {key!r} has {len(values)} item(s); give one per prompt ({len(self.prompts)})"
                )
        if self.latents is not None and (
            self.latents.ndim != 4 or self.latents.shape[0] != len(self.prompts)
        ):
            raise ValueError(
                f"latents have shape {tuple(self.latents.shape)}; give one (C, h, w) latent per prompt "
                f"({len(self.prompts)}, C, h, w)"
            )

    def sampling(self) -> dict[str, Any]:
        """The settings every diffusers text-to-image call takes (``None`` ones left out)."""
        out: dict[str, Any] = {}
        if self.num_inference_steps is not None:
            out["num_inference_steps"] = self.num_inference_steps
        if self.guidance_scale is not None:
            out["guidance_scale"] = self.guidance_scale
        if self.negative_prompt:
            out["negative_prompt"] = [self.negative_prompt] * len(self.prompts)
        if self.height:
            out["height"] = self.height
        if self.width:
            out["width"] = self.width
        return out


class NoOptions(BaseModel):
    """The config of a method that has no settings of its own."""

    model_config = ConfigDict(extra="forbid")


class Generator(ABC):
    """A generation method over a loaded diffusers pipeline.

    Subclasses set :attr:`config_class` (a pydantic model whose defaults are the method's), optionally
    :attr:`requires`, :attr:`sampling` (the steps and guidance a request that leaves them unset gets) and
    :attr:`takes_latents` (the method starts from :attr:`GenerationRequest.latents` when given), and
    implement :meth:`generate`.

    Args:
        pipe: a loaded text-to-image pipeline (SD-1.x / 2.x shaped); methods share its components.
        config: an instance of :attr:`config_class`.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[BaseModel]] = NoOptions
    requires: ClassVar[tuple[str, ...]] = ()
    sampling: ClassVar[Sampling] = WORKBENCH_SAMPLING
    takes_latents: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init__(self, pipe: Any, config: BaseModel | None = None) -> None:
        self.pipe = pipe
        self.config = config if config is not None else self.config_class()

    def resolve(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` with unset steps and guidance taken from :attr:`sampling`."""
        if request.num_inference_steps is not None and request.guidance_scale is not None:
            return request
        return replace(
            request,
            num_inference_steps=(
                self.sampling.num_inference_steps
                if request.num_inference_steps is None
                else request.num_inference_steps
            ),
            guidance_scale=(
                self.sampling.guidance_scale if request.guidance_scale is None else request.guidance_scale
            ),
        )

    @abstractmethod
    def generate(self, request: GenerationRequest) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` float in [0, 1] on the CPU, image ``i`` for ``request.prompts[i]``."""

    def __call__(self, request: GenerationRequest) -> torch.Tensor:
        missing = [key for key in self.requires if key not in request.conditions]
        if missing:
            raise ValueError(
                f"generator {self.name!r} needs {', '.join(missing)} for each prompt; pass them in the request's conditions"
            )
        if request.latents is not None and not self.takes_latents:
            raise ValueError(
                f"generator {self.name!r} does not start from given initial latents; leave request.latents "
                "unset or use a generator whose takes_latents is true (stock, regions, box_guidance, ...)"
            )
        import torch  # deferred: plugins import this module at start-up, before any model is needed

        request = self.resolve(request)
        with torch.no_grad():
            images = self.generate(request)
        if images.ndim != 4 or images.shape[0] != len(request.prompts) or images.shape[1] != 3:
            raise RuntimeError(
                f"generator {self.name!r} returned shape {tuple(images.shape)}; expected ({len(request.prompts)}, 3, H, W)"
            )
        return images.float().cpu()


GENERATORS: Registry[type[Generator]] = Registry("generator")


def register_generator(
    name: str, description: str | None = None
) -> Callable[[type[Generator]], type[Generator]]:
    """Class decorator registering a :class:`Generator` subclass as ``name`` (duplicates are refused)."""

    def decorator(cls: type[Generator]) -> type[Generator]:
        if not (isinstance(cls, type) and issubclass(cls, Generator)):
            raise TypeError(f"generator {name!r} must subclass workbench.generation.Generator, got {cls!r}")
        cls.name = name
        doc = description if description is not None else (cls.__doc__ or "").strip().split("\n")[0]
        cls.description = doc
        GENERATORS.add(name, cls)
        return cls

    return decorator


def generator_config(name: str, options: Mapping[str, Any] | BaseModel | None = None) -> BaseModel:
    """Validate ``options`` against generator ``name``'s config class (its defaults fill the rest).

    Raises:
        KeyError: an unknown generator (the message lists the known ones).
        ValueError: a bad option, one line per problem.
    """
    cls = GENERATORS.get(name)
    if isinstance(options, BaseModel):
        return options
    try:
        return cls.config_class.model_validate(dict(options or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"generator {name!r} options: {problems}") from None


def build_generator(name: str, pipe: Any, options: Mapping[str, Any] | BaseModel | None = None) -> Generator:
    """Generator ``name`` built over ``pipe`` with ``options`` (validated by its config class)."""
    if name not in GENERATORS:
        load_plugins()
    return GENERATORS.get(name)(pipe, generator_config(name, options))


@register_generator("stock")
class StockGenerator(Generator):
    """The pipeline as it is: text-to-image without any method of the workbench (the baseline)."""

    takes_latents = True

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        self.pipe.set_progress_bar_config(disable=True)
        out = self.pipe(
            request.prompts,
            generator=request.generators,
            latents=request.latents,
            output_type="pt",
            **request.sampling(),
        )
        return out.images  # (B, 3, H, W) in [0, 1]
