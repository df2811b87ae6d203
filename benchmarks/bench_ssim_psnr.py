"""Batched SSIM + PSNR (metrics.functional) against a per-image scikit-image loop, side by side.

    OMP_NUM_THREADS=1 python benchmarks/bench_ssim_psnr.py [--n 256] [--size 256] [--threads N]

Both paths score the same N image pairs (photograph crops with noise, [0, 1], 3 channels). Prints
images/s for each, the speed ratio and the largest absolute difference of the per-image values.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np
import torch

logger = logging.getLogger("bench_ssim_psnr")


def make_pairs(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random crops of scikit-image's photographs and noisy, blurred copies: two (N, H, W, 3) arrays."""
    import skimage.data
    from scipy.ndimage import gaussian_filter

    photos = [getattr(skimage.data, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")]
    photos = [p.astype(np.float64) / 255.0 for p in photos if p.shape[0] >= size and p.shape[1] >= size]
    rng = np.random.default_rng(seed)
    ref = np.empty((n, size, size, 3))
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = rng.integers(0, p.shape[0] - size + 1), rng.integers(0, p.shape[1] - size + 1)
        ref[i] = p[y : y + size, x : x + size]
    blurred = gaussian_filter(ref, sigma=(0, 0.7, 0.7, 0))
    pred = np.clip(blurred + rng.normal(0, 0.03, ref.shape), 0, 1)
    return pred, ref


def skimage_loop(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ssim = np.empty(len(pred))
    psnr = np.empty(len(pred))
    for i in range(len(pred)):
        ssim[i] = structural_similarity(
            pred[i],
            ref[i],
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        psnr[i] = peak_signal_noise_ratio(ref[i], pred[i], data_range=1.0)
    return ssim, psnr


def batched(pred: torch.Tensor, ref: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from metrics.functional import peak_signal_noise_ratio, structural_similarity

    ssim, psnr = [], []
    for i in range(0, len(pred), batch_size):
        p, r = pred[i : i + batch_size], ref[i : i + batch_size]
        ssim.append(structural_similarity(p, r, data_range=1.0))
        psnr.append(peak_signal_noise_ratio(p, r, data_range=1.0))
    return torch.cat(ssim), torch.cat(psnr)


def _timed(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall-clock and best process-CPU seconds over ``repeats`` runs, and the last result."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=256, help="image pairs")
    parser.add_argument("--size", type=int, default=256, help="image side")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        nargs="*",
        default=None,
        help="torch thread counts to time (default: 1 and torch's default)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is reported")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    default_threads = torch.get_num_threads()
    threads = args.threads or sorted({1, default_threads})

    pred_np, ref_np = make_pairs(args.n, args.size)
    # The batched path takes (B, 3, H, W) float32 tensors, as images are held in the project.
    pred_t = torch.from_numpy(pred_np).permute(0, 3, 1, 2).float().contiguous()
    ref_t = torch.from_numpy(ref_np).permute(0, 3, 1, 2).float().contiguous()

    logger.info(
        "%d image pairs of %dx%d (3 channels), best of %d runs", args.n, args.size, args.size, args.repeats
    )
    logger.info("%-44s %12s %14s", "path", "images/s", "images/CPU-s")
    sk_wall, sk_cpu, (ssim_sk, psnr_sk) = _timed(lambda: skimage_loop(pred_np, ref_np), args.repeats)
    logger.info(
        "%-44s %12.1f %14.1f", "scikit-image loop (SSIM + PSNR, 1 thread)", args.n / sk_wall, args.n / sk_cpu
    )
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        batched(pred_t[:4], ref_t[:4], args.batch_size)  # warm-up
        wall, cpu, (ssim_t, psnr_t) = _timed(lambda: batched(pred_t, ref_t, args.batch_size), args.repeats)
        label = f"batched metrics.functional ({n_threads} thread{'s' if n_threads > 1 else ''})"
        logger.info(
            "%-44s %12.1f %14.1f   speed-up %.2fx", label, args.n / wall, args.n / cpu, sk_wall / wall
        )
    torch.set_num_threads(default_threads)
    d_ssim = float(np.abs(ssim_t.numpy() - ssim_sk).max())
    d_psnr = float(np.abs(psnr_t.numpy() - psnr_sk).max())
    logger.info("max |SSIM difference|: %.2e   max |PSNR difference|: %.2e dB", d_ssim, d_psnr)
    logger.info(
        "(images/CPU-s divides by this process's CPU time: steadier than wall time on a shared machine)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
