"""The shared runtime: device, precision, seeding and process sharding, all decided by accelerate.

Nothing else in the project picks a device or calls ``.cuda()``: modules take a :class:`Runtime`
(or its ``device`` / ``dtype``) and every random draw goes through a ``torch.Generator`` that the
runtime derives from the run seed and a key. Keys name the *work item* (an image index, a prompt),
never the process, so ``accelerate launch --num_processes N`` gives the same numbers as one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
from collections.abc import Iterator, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from workbench.config import MAX_SEED, ConfigError

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16"]
_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
T = TypeVar("T")


def derive_seed(seed: int, *keys: Any) -> int:
    """A 63-bit seed derived from ``seed`` and any keys (stable across processes and Python runs)."""
    text = repr((int(seed),) + tuple(str(k) for k in keys)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") & ((1 << 63) - 1)


def end_process_group() -> None:
    """Wait for every process, then destroy the default process group (a no-op in one process).

    A ``gloo`` or ``nccl`` group left to the interpreter's exit can abort the process with
    ``terminate called without an active exception``; launched entry points end with this.
    """
    from accelerate import PartialState

    state = PartialState()
    if state.num_processes > 1 and torch.distributed.is_initialized():
        state.wait_for_everyone()
        state.destroy_process_group()


def launched() -> bool:
    """Whether a launcher (``accelerate launch``, ``torchrun``, ``mpirun``) started this process as one
    of several."""
    from accelerate.utils import get_int_from_env

    if int(os.environ.get("LOCAL_RANK", -1)) != -1:
        return True
    return get_int_from_env(["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"], 1) > 1


def use_cpu_processes(device: str | None) -> bool:
    """Whether the run's processes must be CPU processes talking over ``gloo``.

    ``device="cpu"`` forces it; so does ``ACCELERATE_USE_CPU`` (what ``accelerate launch --cpu`` sets).
    With ``device=None`` a launched process on a machine without an accelerator that has a process-group
    backend (a CPU-only machine, a Mac) is a CPU process too: accelerate's own choice there is "no
    distributed run", which would make N independent one-process runs.
    """
    from accelerate.utils import parse_flag_from_env
    from accelerate.utils.imports import get_distributed_backend, get_torch_accelerator_backend

    if device == "cpu":
        return True
    if device is not None:
        return False
    if parse_flag_from_env("ACCELERATE_USE_CPU"):
        return True
    if not launched():
        return False
    kind, _module = get_torch_accelerator_backend()
    return kind is None or get_distributed_backend(kind) is None


def check_seed(seed: Any) -> int:
    """``seed`` as an int in ``0 .. 2**63 - 1``.

    Raises:
        ConfigError: a seed that is not an integer or lies outside that range.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed {seed!r} is not an integer; use a whole number in 0..{MAX_SEED}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ConfigError(f"seed {seed} is outside 0..{MAX_SEED} (2**63 - 1); use a seed in that range")
    return int(seed)


def check_device(device: str | None) -> str | None:
    """``device`` when this machine has it (``None`` and ``"cpu"`` always pass).

    Raises:
        ConfigError: an unknown device name (``"gpu"``), or CUDA / MPS / a device index this machine
            or this torch build does not have.
    """
    if device is None or device == "cpu":
        return device
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(
            f"device {device!r} is not a device name; use cpu, cuda, cuda:N or mps (or leave it unset)"
        ) from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ConfigError(
                f"device {device!r} is not available: {build}; use device cpu (or leave it unset)"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r} is not available: this machine has {torch.cuda.device_count()} CUDA "
                f"device(s) (cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device {device!r} is not available here (no MPS); use device cpu")
    elif parsed.type != "cpu":
        raise ConfigError(
            f"device {device!r} is not supported; use cpu, cuda, cuda:N or mps (or leave it unset)"
        )
    return device


class Runtime:
    """Device, precision, seed and process layout for one run.

    Args:
        seed: the run seed (``0 .. 2**63 - 1``); every generator is derived from it.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (fp16 only on CUDA; it is refused on CPU).
        device: ``None`` lets accelerate choose (CUDA, MPS, else CPU); ``"cpu"`` forces the CPU; a device
            this machine lacks is refused (:func:`check_device`).
        deterministic: ask torch for deterministic kernels (bit-identical CPU runs).
        autocast: ``None`` (off) or ``"bf16"`` / ``"fp16"`` (fp16 only on CUDA): with fp32 weights,
            :meth:`autocast` runs the matrix products and convolutions of a block in that type
            (``torch.autocast``). Faster where the hardware has fast bf16 (recent CPUs, GPUs), within a
            small deviation of fp32 (``benchmarks/bench_autocast.py`` prints both); off by default.

    Example:
        >>> rt = Runtime(seed=0, device="cpu")
        >>> g = rt.generator("image", 3)
        >>> torch.randn(2, generator=g).shape
        torch.Size([2])
    """

    def __init__(
        self,
        seed: int = 0,
        precision: Precision = "fp32",
        device: str | None = None,
        deterministic: bool = True,
        autocast: Precision | None = None,
    ) -> None:
        from accelerate import PartialState

        self.seed = check_seed(seed)
        self.precision = precision
        self.requested_device = device
        self.deterministic = deterministic

        if self.precision not in _DTYPES:
            raise ValueError(f"precision must be one of {sorted(_DTYPES)}, got {self.precision!r}")
        if autocast == "fp32":
            autocast = None
        if autocast is not None and autocast not in _DTYPES:
            raise ValueError(f"autocast must be None, 'bf16' or 'fp16', got {autocast!r}")
        self.autocast_precision = autocast
        device = check_device(device)
        cpu = use_cpu_processes(device)
        self._state = PartialState(cpu=cpu)
        if device is not None and not cpu and torch.device(device) != self._state.device:
            # An explicit device such as "cuda:1" wins over accelerate's default for single-process use.
            self._device = torch.device(device)
        else:
            self._device = self._state.device
        if self.precision == "fp16" and self._device.type == "cpu":
            raise ValueError("precision 'fp16' is not supported on the CPU; use 'bf16' or 'fp32'")
        if self.autocast_precision == "fp16" and self._device.type == "cpu":
            raise ValueError("autocast 'fp16' is not supported on the CPU; use autocast 'bf16' (or none)")
        if self.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            if self._device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        self.seed_everything()

    # ------------------------------------------------------------------ device and precision
    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self.precision]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast on the run's device: to the ``autocast`` option's type when set, else to the run's
        precision (a no-op in fp32 without the option)."""
        if self.autocast_precision is not None:
            return torch.autocast(self._device.type, dtype=_DTYPES[self.autocast_precision])
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self._device.type, dtype=self.dtype)

    # ------------------------------------------------------------------ randomness
    def seed_everything(self) -> None:
        """Seed Python, NumPy and torch's global generators from the run seed (a safety net:
        project code draws from explicit generators)."""
        random.seed(self.seed)
        np.random.seed(self.seed % (2**32))
        torch.manual_seed(self.seed)

    def generator(self, *keys: Any, device: str | torch.device | None = None) -> torch.Generator:
        """A fresh ``torch.Generator`` seeded from the run seed and ``keys``."""
        dev = torch.device(device) if device is not None else self._device
        g = torch.Generator(device=dev.type if dev.type != "mps" else "cpu")
        g.manual_seed(derive_seed(self.seed, *keys))
        return g

    def generators(self, keys: Sequence[Any], *prefix: Any) -> list[torch.Generator]:
        """One generator per work item (pass these to a diffusers pipeline as ``generator=``)."""
        return [self.generator(*prefix, k) for k in keys]

    def numpy_rng(self, *keys: Any) -> np.random.Generator:
        return np.random.default_rng(derive_seed(self.seed, *keys))

    # ------------------------------------------------------------------ processes
    @property
    def num_processes(self) -> int:
        return self._state.num_processes

    @property
    def process_index(self) -> int:
        return self._state.process_index

    @property
    def is_main(self) -> bool:
        return self._state.is_main_process

    @contextlib.contextmanager
    def split(self, items: Sequence[T]) -> Iterator[list[T]]:
        """This process's share of ``items`` (contiguous, in order, no padding)."""
        with self._state.split_between_processes(list(items), apply_padding=False) as part:
            yield list(part)

    def shard_indices(self, n: int) -> list[int]:
        """Indices ``0..n-1`` that this process owns (contiguous blocks, like ``split``)."""
        with self.split(list(range(n))) as part:
            return part

    def gather(self, obj: list[Any]) -> list[Any]:
        """Concatenate per-process lists on every process, in process order."""
        if self.num_processes == 1:
            return list(obj)
        from accelerate.utils import gather_object

        return list(gather_object(list(obj)))

    def wait(self) -> None:
        self._state.wait_for_everyone()

    @contextlib.contextmanager
    def main_process_first(self) -> Iterator[None]:
        with self._state.main_process_first():
            yield

    def close(self) -> None:
        """End the run's process group (see ``end_process_group``); call it once, at the end."""
        end_process_group()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()

    def describe(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "precision": self.precision,
            "device": str(self._device),
            "num_processes": self.num_processes,
            "deterministic": self.deterministic,
            "autocast": self.autocast_precision,
        }

    def __repr__(self) -> str:
        return f"Runtime(seed={self.seed}, precision={self.precision!r}, device={str(self._device)!r})"
