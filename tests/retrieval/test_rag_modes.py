"""The retrieval pipeline split by mode: each mode's hooks in its own file of ``generators/retrieval/methods``,
outputs unchanged by the split (slices pinned from the single-``__call__`` pipeline), diffusers' own
``save_pretrained`` / ``from_pretrained`` for exports, no import of the toy world's training code."""

from __future__ import annotations

import ast
import inspect
import json

import pytest
import torch

from generators.retrieval import (
    RetrievalAugmentedPipeline,
    RetrievalConditioner,
    pipeline_retrieval,
    retrieve,
)
from generators.retrieval.boxes import prompt_box
from generators.retrieval.methods.mode import RETRIEVAL_MODES, RetrievalMode
from workbench.generation import GENERATORS

PROMPTS = ["a zorvik emblem on the left", "a xandro emblem at the top and a small red circle"]

# images[:, 0, 14, 12:16] of 2 prompts, 2 steps, seeds 0 and 1; measured on the pipeline before the split
PINNED = {
    "reference": [0.539615, 0.494295, 0.427157, 0.562334, 0.679809, 0.746474, 0.584166, 0.364051],
    "conditioned": [0.533988, 0.494509, 0.423383, 0.558247, 0.671655, 0.72936, 0.578154, 0.356775],
    "conditioned-off": [0.537063, 0.494825, 0.426214, 0.581277, 0.642145, 0.676616, 0.590498, 0.413615],
    "blend": [0.595761, 0.454991, 0.41685, 0.588101, 0.620918, 0.679678, 0.617005, 0.399366],
}
CASES = {
    "reference": {"mode": "reference", "guidance": {"scheme": "interleaved"}, "reference_weight": 1.0, "reference_seed": 3},
    "conditioned": {"mode": "conditioned", "guidance": {"scheme": "interleaved"}},
    "conditioned-off": {},
    "blend": {"mode": "blend", "target_boxes": [prompt_box(p, e) for p, e in zip(PROMPTS, ["zorvik", "xandro"])], "reference_seed": 5},
}  # fmt: skip


@pytest.fixture(scope="module")
def neighbours(kb):
    return retrieve(kb, PROMPTS, k=2)


@pytest.fixture(scope="module")
def conditioner(sd_pipe, kb):
    torch.manual_seed(0)
    return RetrievalConditioner(
        embed_dim=kb.manifest.embedder.dim,
        cross_attention_dim=sd_pipe.unet.config.cross_attention_dim,
        num_neighbours=2,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_each_mode_gives_the_output_of_the_unsplit_pipeline(case, sd_pipe, conditioner, neighbours):
    cond = conditioner if case.startswith("conditioned") else None
    pipe = RetrievalAugmentedPipeline.from_pipe(sd_pipe, retrieval_conditioner=cond)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(
        PROMPTS,
        neighbours=None if case == "conditioned-off" else neighbours,
        generator=[torch.Generator().manual_seed(i) for i in range(2)],
        num_inference_steps=2,
        output_type="pt",
        **CASES[case],
    ).images  # (2, 3, 32, 32)
    got = out[:, 0, 14, 12:16].flatten()
    assert torch.allclose(got, torch.tensor(PINNED[case]), atol=2e-5), got.tolist()


def test_modes_differ_from_each_other():
    rows = torch.tensor(list(PINNED.values()))
    assert torch.cdist(rows, rows).add(torch.eye(len(rows))).min() > 1e-3


def test_each_mode_lives_in_its_method_file():
    assert RETRIEVAL_MODES.names() == ["blend", "conditioned", "reference"]
    for name in RETRIEVAL_MODES.names():
        mode = RETRIEVAL_MODES.get(name)
        assert issubclass(mode, RetrievalMode) and mode.name == name
        assert mode.__module__ == f"generators.retrieval.methods.{name}"
        generator = GENERATORS.get(f"retrieval_{name}")
        assert generator.__module__ == mode.__module__ and generator.mode == name


def test_unknown_mode_is_refused(sd_pipe, neighbours):
    pipe = RetrievalAugmentedPipeline.from_pipe(sd_pipe)
    with pytest.raises(ValueError, match="mode must be 'auto' or one of blend, conditioned, reference"):
        pipe(PROMPTS, neighbours=neighbours, mode="telepathy", num_inference_steps=1)


def test_exports_use_diffusers_save_and_load(tmp_path, sd_pipe, conditioner, neighbours):
    pipe = RetrievalAugmentedPipeline.from_pipe(sd_pipe, retrieval_conditioner=conditioner)
    pipe.set_progress_bar_config(disable=True)
    kw = {"neighbours": neighbours, "num_inference_steps": 1, "output_type": "pt"}
    want = pipe(PROMPTS, generator=[torch.Generator().manual_seed(i) for i in range(2)], **kw).images
    pipe.save_pretrained(tmp_path / "new")
    index = json.loads((tmp_path / "new" / "model_index.json").read_text())
    assert index["retrieval_conditioner"] == ["generators.retrieval.conditioner", "RetrievalConditioner"]
    loaded = RetrievalAugmentedPipeline.from_pretrained(tmp_path / "new")  # diffusers' own loader
    assert isinstance(loaded.retrieval_conditioner, RetrievalConditioner)
    # an export written as a stock Stable Diffusion folder with the conditioner beside it still loads
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline(**{k: v for k, v in sd_pipe.components.items()}).save_pretrained(tmp_path / "old")
    conditioner.save_pretrained(tmp_path / "old" / "retrieval_conditioner")
    old = RetrievalAugmentedPipeline.from_export(tmp_path / "old")
    for p in (loaded, old):
        p.set_progress_bar_config(disable=True)
        got = p(PROMPTS, generator=[torch.Generator().manual_seed(i) for i in range(2)], **kw).images
        assert torch.allclose(got, want, atol=1e-6)


def test_the_pipeline_imports_no_toy_world_code():
    tree = ast.parse(inspect.getsource(pipeline_retrieval))
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert modules and not [m for m in modules if m.startswith("toyworld")]
