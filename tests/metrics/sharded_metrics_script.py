"""Computes metrics over data sharded with ``Runtime.split``; run with or without ``accelerate launch``.

Usage: python sharded_metrics_script.py OUT.json
"""

from __future__ import annotations

import json
import sys

import torch

from metrics import PSNR, SSIM, BitAccuracy, FrechetDistance, KernelInceptionDistance, WatermarkDetection
from workbench.runtime import Runtime


def main(out_path: str) -> None:
    rt = Runtime(seed=0, device="cpu")
    n = 11  # uneven across 2 processes
    ssim, psnr = SSIM(), PSNR()
    fd = FrechetDistance(num_features=6, extractor_name="test features")
    kid = KernelInceptionDistance(subsets=4, subset_size=5, extractor_name="test features")
    bits = BitAccuracy(n_bits=16)
    det = WatermarkDetection(fprs=(0.1,))
    key = torch.randint(0, 2, (16,), generator=rt.generator("key"))
    with rt.split(list(range(n))) as mine:
        for i in mine:
            # every item is drawn from a generator keyed by the item, never by the process
            g = rt.generator("item", i)
            target = torch.rand(1, 3, 24, 24, generator=g)
            pred = (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(0, 1)
            ssim.update(pred, target)
            psnr.update(pred, target)
            fd.update_features(torch.randn(2, 6, generator=g, dtype=torch.float64), real=True)
            fd.update_features(torch.randn(2, 6, generator=g, dtype=torch.float64) + 0.5, real=False)
            kid.update_features(torch.randn(1, 6, generator=g, dtype=torch.float64), real=True)
            kid.update_features(torch.randn(1, 6, generator=g, dtype=torch.float64) + 0.5, real=False)
            decoded = key ^ (torch.rand(16, generator=g) < 0.2).long()
            bits.update(decoded[None], key)
            det.update(torch.randn(1, generator=g) + (i % 2) * 2, watermarked=bool(i % 2))
    result = {
        "num_processes": rt.num_processes,
        "ssim": ssim.compute().item(),
        "ssim_per_item": ssim.per_item().tolist(),
        "psnr": psnr.compute().item(),
        "fd": fd.compute().item(),
        "kid": kid.compute()[0].item(),
        "bits": bits.compute().item(),
        "auc": det.compute()["auc"],
    }
    if rt.is_main:
        with open(out_path, "w") as f:
            json.dump(result, f)
    rt.close()


if __name__ == "__main__":
    main(sys.argv[1])
