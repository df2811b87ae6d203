"""A new generator, image attack and metric in one file outside the package tree, named by
``WORKBENCH_PLUGINS``, run through ``workbench run`` (and its report), the CLI and the demos with no
other file edited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
"""One file adding a generator, an image attack and a metric to the workbench."""
import torch
from pydantic import BaseModel

from attacks.image.base import AttackConfig, ImageAttack
from attacks.image.registry import IMAGE_ATTACKS
from metrics.scoring import SCORERS, FolderScorer
from workbench.generation import GenerationRequest, Generator, register_generator


class NegativeConfig(BaseModel):
    amount: float = 1.0


@register_generator("probe-negative")
class Negative(Generator):
    """The stock image, inverted by ``amount``."""

    config_class = NegativeConfig

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        out = self.pipe(request.prompts, generator=request.generators, output_type="pt", **request.sampling())
        images = out.images.float()  # (B, 3, H, W) in [0, 1]
        return (1 - images) * self.config.amount + images * (1 - self.config.amount)


@IMAGE_ATTACKS.register("probe-flip")
class Flip(ImageAttack):
    """Mirror the image left to right."""

    name = "probe-flip"
    config_class = AttackConfig

    def parameters(self):
        return {"axis": "width"}

    def apply(self, images, generator):
        return images.flip(-1)


@SCORERS.register("probe-mean")
class Mean(FolderScorer):
    """Mean pixel value of each image."""

    name = "probe-mean"
    needs_ref = False

    def __init__(self, config, models):
        super().__init__(config, models)
        self.values = []

    def update(self, batch):
        values = [float(p.mean()) for p in batch.preds]
        self.values += values
        return values

    def result(self):
        return {"value": sum(self.values) / len(self.values)}
'''

SCRIPT = """
import json, sys
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.cli import main

tmp = Path(sys.argv[1])
out = {}

def run(*args):
    code = main(list(args))
    assert code == 0, (args, code)

# 1. the generator through `workbench run` and its report, against the stock method on the same noise
for method in ("probe-negative", "stock"):
    run("run", str(Path(sys.argv[2]) / "examples" / "smoke.yaml"), "--set", f"generate.method={method}",
        "--set", "generate.images_per_prompt=1", "--output-dir", str(tmp / method))
    (folder,) = [p for p in (tmp / method).iterdir() if p.is_dir()]
    out[method] = {"folder": str(folder), "report": "probe-negative" in (folder / "report.html").read_text()}

# 2. the generator in the generate demo, and the attack in the watermark demo's choices
from apps import DEMOS, load_demo_modules
from apps.generate_demo import generate, unconditioned_generators

load_demo_modules()
result = generate("probe-negative", "dummy", "a red circle", steps=2, seed=0)
out["demo_inverse_error"] = float(np.abs(result.method_image.astype(int) - (255 - result.stock_image.astype(int))).max())
out["demo_lists_generator"] = "probe-negative" in unconditioned_generators()
blocks = DEMOS.get("watermarks").build()
choices = [c for block in blocks.blocks.values() for c in getattr(block, "choices", []) or []]
out["demo_lists_attack"] = any("probe-flip" in str(c) for c in choices)

# 3. the attack through `workbench attack`, the metric through `workbench score`
image = np.zeros((32, 32, 3), np.uint8)
image[:, :8] = 255
Image.fromarray(image).save(tmp / "in.png")
run("attack", "probe-flip", str(tmp / "in.png"), str(tmp / "flipped.png"), "--strength", "0.5")
flipped = np.asarray(Image.open(tmp / "flipped.png"))
out["attack_flipped"] = bool(flipped[:, -8:].min() == 255 and flipped[:, :8].max() == 0)
(tmp / "preds").mkdir()
Image.fromarray(image).save(tmp / "preds" / "a.png")
import contextlib, io

buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    run("score", "--pred", str(tmp / "preds"), "--metrics", "probe-mean", "--json")
out["score"] = buffer.getvalue()
print("RESULT " + json.dumps(out))
"""


def test_a_generator_an_attack_and_a_metric_from_one_file(tmp_path):
    plugin = tmp_path / "my_methods.py"
    plugin.write_text(textwrap.dedent(PLUGIN))
    script = tmp_path / "drive.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "WORKBENCH_PLUGINS": str(plugin), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT ") :])
    assert out["probe-negative"]["report"] and not out["stock"]["report"]
    negative = Path(out["probe-negative"]["folder"]) / "outputs" / "images" / "0000.png"
    stock = Path(out["stock"]["folder"]) / "outputs" / "images" / "0000.png"
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(negative)).astype(int)
    b = np.asarray(Image.open(stock)).astype(int)
    assert np.abs(a - (255 - b)).max() <= 1  # the run used the plugin's method
    assert out["demo_lists_generator"] and out["demo_inverse_error"] <= 1
    assert out["demo_lists_attack"]
    assert out["attack_flipped"]
    assert "probe-mean" in out["score"]
