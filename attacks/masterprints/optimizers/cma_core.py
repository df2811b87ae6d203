"""CMA-ES with its whole state in arrays: (mu/mu_w, lambda)-CMA-ES (Hansen's tutorial, full covariance)
and its separable variant (sep-CMA, Ros & Hansen 2008: a diagonal covariance with learning rates raised
by ``(n + 2) / 3``).

Every generation's standard-normal draws come from a generator keyed by the generation, so the state
is only the mean, step size, evolution paths and the covariance (its eigenbasis for the full variant):
:meth:`CMAES.state` / :meth:`CMAES.load_state` restore a run exactly, with no replay.

    >>> es = CMAES(mean=np.full(4, 3.0), sigma=1.0, popsize=8, separable=True)
    >>> for g in range(60):
    ...     x = es.ask(torch.Generator().manual_seed(g))
    ...     es.tell(x, (x**2).sum(1))
    >>> bool(np.abs(es.mean).max() < 0.1)
    True
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = ["CMAES"]

MAX_CONDITION = 1e14
"""Above this condition number of the covariance it is reset to the identity (logged)."""


class CMAES:
    """CMA-ES in ``n`` dimensions (``n = mean.size``), minimising.

    Args:
        mean: `(n,)` the initial mean (the search space's start point).
        sigma: the initial step size.
        popsize: candidates per generation (lambda).
        separable: a diagonal covariance (linear cost per generation) instead of the full one
            (``n**2`` memory, ``n**2 * lambda`` per update plus an eigendecomposition every few generations).
    """

    def __init__(self, mean: np.ndarray, sigma: float, popsize: int, separable: bool = False) -> None:
        n = int(np.asarray(mean).size)
        self.n, self.popsize, self.separable = n, int(popsize), bool(separable)
        mu = self.popsize // 2
        w = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
        self.weights = w / w.sum()  # (mu,)
        self.mueff = 1.0 / float((self.weights**2).sum())
        me = self.mueff
        self.cc = (4 + me / n) / (n + 4 + 2 * me / n)
        self.cs = (me + 2) / (n + me + 5)
        c1 = 2 / ((n + 1.3) ** 2 + me)
        cmu = min(1 - c1, 2 * (me - 2 + 1 / me) / ((n + 2) ** 2 + me))
        if self.separable:
            c1, cmu = c1 * (n + 2) / 3, cmu * (n + 2) / 3
            cmu = min(cmu, 1 - c1)
        self.c1, self.cmu = c1, cmu
        self.damps = 1 + 2 * max(0.0, math.sqrt((me - 1) / (n + 1)) - 1) + self.cs
        self.chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n**2))
        self.eigen_every = max(1, int(1 / ((c1 + cmu) * n * 10)))
        # state
        self.mean = np.asarray(mean, dtype=np.float64).reshape(n).copy()
        self.sigma = float(sigma)
        self.pc = np.zeros(n)
        self.ps = np.zeros(n)
        self.generation = 0
        self.eigen_generation = 0
        if self.separable:
            self.C = np.ones(n)  # the diagonal
            self.B, self.D = np.zeros((0, 0)), np.sqrt(self.C)
        else:
            self.C, self.B, self.D = np.eye(n), np.eye(n), np.ones(n)
        self._y: np.ndarray | None = None

    # ------------------------------------------------------------------ ask / tell
    def ask(self, generator: torch.Generator) -> np.ndarray:
        """`(popsize, n)` candidates; ``generator`` draws this generation's standard normals."""
        z = torch.randn(self.popsize, self.n, generator=generator, dtype=torch.float64).numpy()
        y = z * self.D if self.separable else (z * self.D) @ self.B.T  # (pop, n) ~ N(0, C)
        self._y = y
        return self.mean + self.sigma * y

    def tell(self, x: np.ndarray, losses: np.ndarray | torch.Tensor) -> None:
        """Update from the candidates ``x`` `(popsize, n)` that :meth:`ask` returned and their losses."""
        losses = np.asarray(torch.as_tensor(losses, dtype=torch.float64).cpu())
        if x.shape != (self.popsize, self.n) or losses.shape != (self.popsize,):
            raise ValueError(f"tell expects ({self.popsize}, {self.n}) candidates and {self.popsize} losses")
        if not np.isfinite(losses).all():
            raise FloatingPointError("CMA-ES was told non-finite losses")
        y = (x - self.mean) / self.sigma  # (pop, n)
        sel = y[np.argsort(losses, kind="stable")[: self.weights.size]]  # (mu, n)
        y_w = self.weights @ sel  # (n,)
        self.mean = self.mean + self.sigma * y_w
        inv_sqrt_y = y_w / self.D if self.separable else self.B @ ((self.B.T @ y_w) / self.D)
        self.ps = (1 - self.cs) * self.ps + math.sqrt(self.cs * (2 - self.cs) * self.mueff) * inv_sqrt_y
        g = self.generation + 1
        ps_norm = float(np.linalg.norm(self.ps))
        hsig = ps_norm / math.sqrt(1 - (1 - self.cs) ** (2 * g)) / self.chi_n < 1.4 + 2 / (self.n + 1)
        self.pc = (1 - self.cc) * self.pc + hsig * math.sqrt(self.cc * (2 - self.cc) * self.mueff) * y_w
        keep = 1 - self.c1 - self.cmu + (1 - hsig) * self.c1 * self.cc * (2 - self.cc)
        if self.separable:
            rank_mu = self.weights @ (sel**2)  # (n,)
            self.C = keep * self.C + self.c1 * self.pc**2 + self.cmu * rank_mu
            self.D = np.sqrt(self.C)
        else:
            rank_mu = (sel * self.weights[:, None]).T @ sel  # (n, n)
            self.C = keep * self.C + self.c1 * np.outer(self.pc, self.pc) + self.cmu * rank_mu
        self.sigma *= math.exp((self.cs / self.damps) * (ps_norm / self.chi_n - 1))
        self.generation = g
        if not self.separable and g - self.eigen_generation >= self.eigen_every:
            self._eigen()
        self._check_condition()

    def _eigen(self) -> None:
        self.C = np.triu(self.C) + np.triu(self.C, 1).T
        d2, self.B = np.linalg.eigh(self.C)
        self.D = np.sqrt(np.maximum(d2, 1e-300))
        self.eigen_generation = self.generation

    def _check_condition(self) -> None:
        cond = float(self.D.max() / self.D.min()) ** 2
        if not math.isfinite(cond) or cond > MAX_CONDITION:
            logger.warning(
                "CMA-ES: covariance condition %.3g at generation %d; reset to the identity (mean and step kept)",
                cond,
                self.generation,
            )
            self.pc[:] = 0.0
            if self.separable:
                self.C, self.D = np.ones(self.n), np.ones(self.n)
            else:
                self.C, self.B, self.D = np.eye(self.n), np.eye(self.n), np.ones(self.n)

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, torch.Tensor]:
        """Everything that :meth:`load_state` needs, as float64 / int64 tensors."""
        out = {
            "mean": self.mean,
            "pc": self.pc,
            "ps": self.ps,
            "C": self.C,
            "B": self.B,
            "D": self.D,
        }
        state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)) for k, v in out.items()}
        state["sigma"] = torch.tensor(self.sigma, dtype=torch.float64)
        state["generation"] = torch.tensor(self.generation, dtype=torch.int64)
        state["eigen_generation"] = torch.tensor(self.eigen_generation, dtype=torch.int64)
        return state

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state`'s output (same dimension and variant)."""
        if tuple(state["mean"].shape) != (self.n,) or tuple(state["C"].shape) != tuple(np.shape(self.C)):
            raise ValueError(
                f"the checkpointed CMA-ES state is for {tuple(state['mean'].shape)} / covariance "
                f"{tuple(state['C'].shape)}, this one has ({self.n},) / {np.shape(self.C)}"
            )
        for k in ("mean", "pc", "ps", "C", "B", "D"):
            setattr(self, k, state[k].double().numpy().copy())
        self.sigma = float(state["sigma"])
        self.generation = int(state["generation"])
        self.eigen_generation = int(state["eigen_generation"])
