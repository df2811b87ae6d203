"""The studies on the real models' shapes (CLIP ViT-L/14, SD-1.5, BLIP-base; random weights, saved with
``save_pretrained`` and loaded by the workbench's loaders): one seed, one work item of each kind, tiny
images where the model allows (the CLIP resizes to its 224 px inside the scorer). Marker ``real_size``."""

from __future__ import annotations

import json
import os

import pytest

from workbench.config import load_config
from workbench.plugins import ENV_VAR, plugin_specs
from workbench.runs import run_experiment

from .conftest import ROOT

pytestmark = pytest.mark.real_size

if "apps.studies.plugin" not in plugin_specs():
    os.environ[ENV_VAR] = os.pathsep.join(filter(None, [os.environ.get(ENV_VAR, ""), "apps.studies.plugin"]))


def test_poisoning_at_real_size(real_models, tmp_path):
    cfg = load_config(
        ROOT / "examples" / "study_masterprints_retrieval.yaml",
        [
            f"models.clip={real_models / 'clip-l14'}",
            f"models.sd={real_models / 'sd15'}",
            "models.judge=none",
            "models.image_size=64",
            "seeds=1",
            "mining.budgets=[0,1]",
            "mining.image_size=32",
            "masters=[1]",
            "knowledge_base.views_per_entity=1",
            "knowledge_base.scenes=2",
            "defences.detector_set.images=2",
            "defences.detector_set.steps=1",
            "defences.detector_set.batch=2",
            "defences.real_train=4",
            "defences.real_test=4",
            "rag.entities=1",
            "rag.k=1",
            "rag.num_inference_steps=1",
        ],
    )
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "hijack_top1.mean" in metrics and "rag.class.poisoned.master_retrieved.mean" in metrics
    assert json.loads((run_dir / "outputs" / "rag_models.json").read_text())["sd"].endswith("sd15")


def test_purification_at_real_size(real_models, tmp_path):
    sd, blip = real_models / "sd15", real_models / "blip-base"
    transforms = (
        "transforms=[{attack: jpeg, strengths: [0.5]}, "
        f"{{attack: vae_regen, strengths: [0.5], options: {{model: '{sd}', resolution: 64}}}}, "
        f"{{attack: paraphrase, strengths: [0.5], options: {{model: '{sd}', captioner: '{blip}', "
        "num_inference_steps: 2, resolution: 64}}]"
    )
    cfg = load_config(
        ROOT / "examples" / "study_purification.yaml",
        [
            f"clip={real_models / 'clip-l14'}",
            "seeds=1",
            "prompts=2",
            "masters=1",
            "mining.budgets=[1]",
            "mining.image_size=32",
            "real_per_prompt=1",
            transforms,
        ],
    )
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    rows = json.loads((run_dir / "outputs" / "rows.json").read_text())
    assert [r["transform"] for r in rows] == ["none", "jpeg", "vae_regen", "paraphrase"]


def test_watermarks_at_real_size(real_models, tmp_path):
    """Study 2 on SD-1.5 and CLIP ViT-L/14: every default generator and watermark, generated at 64 px (8 x 8
    latents: a 16-bit Gaussian Shading key, a radius-2 Tree-Ring disc), two attacks."""
    sd = real_models / "sd15"
    cfg = load_config(
        ROOT / "examples" / "study_watermarks.yaml",
        [
            f"models.sd={sd}",
            f"models.clip={real_models / 'clip-l14'}",
            "seeds=1",
            "scenes.prompts=1",
            "scenes.views_per_entity=1",
            "scenes.k=1",
            "generation.num_inference_steps=2",
            "generation.size=64",
            "generator_options={retrieval_blend: {blend: {inversion_steps: 0}}}",
            "watermark_options={gaussian_shading: {hw_factor: 4}}",
            "attacks=[{attack: jpeg, strengths: [0.5]}, "
            "{attack: vae_regen, strengths: [0.5], options: {resolution: 64}}]",
        ],
    )
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    rows = json.loads((run_dir / "outputs" / "rows.json").read_text())
    # 5 generators x 5 watermarks x (no attack + 2 attacks)
    assert len(rows) == 5 * 5 * 3
    assert {r["generator"] for r in rows} == {
        "stock",
        "regions",
        "box_guidance",
        "freecustom",
        "retrieval_blend",
    }
    assert all(0.0 <= r["tpr"] <= 1.0 for r in rows)
