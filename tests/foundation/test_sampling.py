"""Sampling defaults written once (:mod:`workbench.sampling`): config sections, generators, CLIs and demos
derive them; every example config resolves to the steps and guidance it ran with before."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from workbench.config import load_config
from workbench.generation import GENERATORS, GenerationRequest, Generator
from workbench.sampling import PIPELINE_SAMPLING, WORKBENCH_SAMPLING, Sampling, SamplingSection

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# (steps, guidance) each example ran with when every section restated its own defaults
EXAMPLE_SAMPLING = {
    "smoke.yaml": ("generate", 2, 5.0),
    "tour.yaml": ("generate", 10, 5.0),
    "layout_smoke.yaml": ("generation", 2, 5.0),
    "layout_eval.yaml": ("generation", 25, 5.0),
    "multiconcept_smoke.yaml": ("generation", 2, 7.5),
    "multiconcept_toy.yaml": ("generation", 50, 7.5),
    "retrieval_smoke.yaml": ("generation", 2, 5.0),
    "retrieval_entitydrawbench.yaml": ("generation", 25, 5.0),
    "watermark_quick.yaml": ("generation", 10, 5.0),
    "watermark_bench.yaml": ("generation", 25, 5.0),
}


def test_pipeline_sampling_is_diffusers_own():
    from diffusers import StableDiffusionPipeline

    params = inspect.signature(StableDiffusionPipeline.__call__).parameters
    assert params["num_inference_steps"].default == PIPELINE_SAMPLING.num_inference_steps
    assert params["guidance_scale"].default == PIPELINE_SAMPLING.guidance_scale


def test_unset_fields_take_the_owners_defaults_and_set_ones_win():
    assert SamplingSection().sampling() == WORKBENCH_SAMPLING
    assert SamplingSection(guidance_scale=2).sampling() == Sampling(25, 2.0)

    class Paper(SamplingSection):
        defaults = PIPELINE_SAMPLING

    assert Paper(num_inference_steps=3).sampling() == Sampling(3, 7.5)
    dumped = Paper().model_dump()  # the resolved numbers go into the run folder
    assert dumped == {"num_inference_steps": 50, "guidance_scale": 7.5}


@pytest.mark.parametrize("name", sorted(EXAMPLE_SAMPLING))
def test_every_example_keeps_its_sampling(name):
    section, steps, guidance = EXAMPLE_SAMPLING[name]
    got = getattr(load_config(EXAMPLES / name), section)
    assert (got.num_inference_steps, got.guidance_scale) == (steps, guidance)


def test_experiment_defaults_are_the_owners():
    from attacks.watermarks.bench.config import WatermarkBenchConfig
    from generators.layout.experiment import LayoutEvalConfig
    from generators.multiconcept.config import MultiConceptConfig
    from generators.retrieval.experiment import EntityDrawBenchConfig

    for cfg in (LayoutEvalConfig(), EntityDrawBenchConfig(), WatermarkBenchConfig()):
        assert cfg.generation.sampling() == WORKBENCH_SAMPLING
    assert MultiConceptConfig().generation.sampling() == PIPELINE_SAMPLING  # the paper's
    assert GENERATORS.get("freecustom").sampling == PIPELINE_SAMPLING


class _Echo(Generator):
    sampling = Sampling(7, 3.0)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        value = request.num_inference_steps + request.guidance_scale
        return torch.full((len(request.prompts), 3, 2, 2), value)


def test_a_generator_owns_the_sampling_of_requests_and_sections(monkeypatch):
    from workbench.experiments_builtin.sections import GenerateSection

    monkeypatch.setitem(GENERATORS._items, "test-sampling-owner", _Echo)  # registered for this test only
    gen = _Echo(pipe=None)
    request = GenerationRequest(["a"], [torch.Generator()])
    assert float(gen(request)[0, 0, 0, 0]) == 10.0  # 7 steps + guidance 3
    request = GenerationRequest(["a"], [torch.Generator()], num_inference_steps=1, guidance_scale=0.0)
    assert float(gen(request)[0, 0, 0, 0]) == 1.0
    section = GenerateSection(method="test-sampling-owner")
    assert section.sampling() == Sampling(7, 3.0)
    assert GenerateSection().sampling() == WORKBENCH_SAMPLING  # stock
