"""The real code path: SD-1.5-shaped and CLIP ViT-B/32-shaped models (random weights, shrunk) saved in
the real formats, loaded by the workbench's loaders, a knowledge base embedded with that CLIP, and
retrieval-augmented generation with both guidance schemes."""

from __future__ import annotations

import torch

from generators.retrieval import ClipEmbedder, KnowledgeBase, RetrievalAugmentedPipeline, ToyEntitySource
from workbench.dummy import save_dummy_clip, save_dummy_sd
from workbench.loading import load_clip, load_sd_pipeline


def test_real_path_from_disk(tmp_path, runtime):
    sd_dir, clip_dir = save_dummy_sd(tmp_path / "sd"), save_dummy_clip(tmp_path / "clip")
    model, processor = load_clip(str(clip_dir), runtime)
    embedder = ClipEmbedder(model, processor)
    assert embedder.name == str(clip_dir)
    kb = KnowledgeBase.build(tmp_path / "kb", ToyEntitySource(2, entities=["zorvik", "xandro"]), embedder)
    pipe = RetrievalAugmentedPipeline.from_pipe(load_sd_pipeline(str(sd_dir), runtime))
    pipe.set_progress_bar_config(disable=True)
    for scheme in ("single", "interleaved"):
        out = pipe(
            ["a xandro emblem on the right"],
            knowledge_base=kb,
            k=2,
            guidance={"scheme": scheme, "guidance_scale": 5.0},
            num_inference_steps=2,
            generator=runtime.generator("image", 0),
            output_type="pt",
        )
        assert out.images.shape == (1, 3, 32, 32) and torch.isfinite(out.images).all()
        assert len(out.neighbours[0]) == 2
    # reopening the base with the CLIP loaded again from disk: the same model, accepted
    model2, processor2 = load_clip(str(clip_dir), runtime)
    assert len(KnowledgeBase.open(tmp_path / "kb", ClipEmbedder(model2, processor2))) == 4
