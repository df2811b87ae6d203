"""The shipped toy models load with the stock diffusers / transformers classes and meet their targets."""

import os
from pathlib import Path

import pytest
import torch

from toyworld.train.registry import MODELS_DIR
from toyworld.world import ShapesWorld

SHIPPED = sorted(p.name for p in MODELS_DIR.iterdir() if p.is_dir()) if MODELS_DIR.exists() else []
ON_DEMAND = {"vae-ft", "sd-hires"}  # trained by users who want them, not shipped (git-ignored)


def test_the_vae_is_shipped():
    assert "vae" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_with_stock_classes_and_has_a_card(name):
    folder = MODELS_DIR / name
    assert (folder / "README.md").exists() and (folder / "training.json").exists()
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt")), "safetensors only"
    name = name.split("-seed")[0]  # clip-seed1: another seed of the same model, the same loading check
    if name in ("vae", "vae-ft"):  # vae-ft: trained on demand (`workbench toy train vae-ft`), not shipped
        from diffusers import AutoencoderKL

        AutoencoderKL.from_pretrained(folder)
    elif name == "clip":
        from transformers import CLIPModel, CLIPProcessor, CLIPTokenizer

        CLIPModel.from_pretrained(folder)
        assert len(CLIPTokenizer.from_pretrained(folder)) > 500
        CLIPProcessor.from_pretrained(folder)
    elif name == "judge":
        from toyworld.judge import ShapesJudge

        ShapesJudge.from_pretrained(folder)
    elif name == "captioner":
        from transformers import BlipForConditionalGeneration, BlipProcessor

        BlipForConditionalGeneration.from_pretrained(folder)
        BlipProcessor.from_pretrained(folder)
    elif name in ("sd", "sd-hires", "sd-ref"):  # sd-hires: trained on demand, not shipped
        from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

        pipe = StableDiffusionPipeline.from_pretrained(folder)
        StableDiffusionImg2ImgPipeline.from_pretrained(folder)
        assert pipe.unet.dtype == pipe.vae.dtype == torch.float32  # float16 on disk, float32 once loaded
    elif name == "sd-retrieval":
        from generators.retrieval.pipeline_retrieval import RetrievalAugmentedPipeline

        pipe = RetrievalAugmentedPipeline.from_export(folder)
        assert pipe.unet.dtype == pipe.retrieval_conditioner.dtype == torch.float32
    else:
        pytest.fail(f"unexpected model folder {name}: add its loading check here")


@torch.no_grad()
def test_vae_reconstructs_held_out_scenes_above_28_db():
    from diffusers import AutoencoderKL

    from toyworld.train.vae import psnr

    vae = AutoencoderKL.from_pretrained(MODELS_DIR / "vae").eval()
    x = ShapesWorld(64).batch(31337, "test", 0, 32, n_objects=(1, 4), entity_prob=0.1).images
    y = ((vae.decode(vae.encode(x * 2 - 1).latent_dist.mode()).sample + 1) / 2).clamp(0, 1)
    assert psnr(y, x).mean().item() >= 28.0


def test_the_judge_is_shipped_and_reads_held_out_scenes():
    from toyworld.judge import ShapesJudge
    from toyworld.train.judge import evaluate_judge

    assert "judge" in SHIPPED
    result = evaluate_judge(ShapesJudge.from_pretrained(MODELS_DIR / "judge").eval(), n=100, seed=2718)
    assert result["shape_acc"] >= 0.97 and result["color_acc"] >= 0.99
    assert result["box_iou"] >= 0.8 and result["count_acc"] >= 0.95


def test_the_shipped_weights_stay_under_100_mb():
    total = sum(
        p.stat().st_size
        for p in MODELS_DIR.rglob("*")
        if p.is_file() and not p.is_symlink() and p.relative_to(MODELS_DIR).parts[0] not in ON_DEMAND
    )
    assert total < 100e6, (
        f"{total / 1e6:.1f} MB of toy models: store diffusers weights in float16 or drop one"
    )


def test_no_weight_file_is_stored_twice_and_shared_ones_resolve_inside_the_models():
    import hashlib

    seen: dict[str, Path] = {}
    for path in sorted(MODELS_DIR.rglob("*.safetensors")):
        if path.is_symlink():
            assert path.resolve().is_file() and path.resolve().is_relative_to(MODELS_DIR.resolve()), path
            assert not Path(os.readlink(path)).is_absolute(), f"{path}: links must be relative"
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest not in seen, f"{path} duplicates {seen[digest]}: run link_duplicates"
        seen[digest] = path


def test_link_duplicates_stores_once_and_unshare_frees_a_folder_for_export(tmp_path):
    from toyworld.train.storage import link_duplicates, unshare

    for folder in ("a/vae", "b/vae", "c"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "a/vae/w.safetensors").write_bytes(b"same")
    (tmp_path / "b/vae/w.safetensors").write_bytes(b"same")
    (tmp_path / "c/w.safetensors").write_bytes(b"same")
    (tmp_path / "b/vae/other.safetensors").write_bytes(b"different")
    made = link_duplicates(tmp_path)
    assert {link.relative_to(tmp_path).as_posix() for link, _ in made} == {
        "a/vae/w.safetensors",
        "b/vae/w.safetensors",
    }
    assert (tmp_path / "a/vae/w.safetensors").read_bytes() == b"same"
    assert not (tmp_path / "c/w.safetensors").is_symlink()
    assert unshare(tmp_path / "b") == [tmp_path / "b/vae/w.safetensors"]
    (tmp_path / "b/vae/w.safetensors").write_bytes(b"new export")  # writes its own file, not the shared one
    assert (tmp_path / "c/w.safetensors").read_bytes() == b"same"
