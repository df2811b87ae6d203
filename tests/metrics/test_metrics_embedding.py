"""CLIP-T, CLIP-I and concept fidelity against the transformers processor + model path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metrics import CLIPImageEncoder, CLIPImageScore, CLIPTextScore, ConceptFidelity, HFVisionEncoder
from metrics.embedding import ImagePreprocess

CAPTIONS = ["a red circle", "a blue square on the left", "two green stars"]


def _images(n: int, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth 8-bit-valued images in [0, 1] (the processor path sees the same uint8 values)."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(
        torch.rand(n, 3, max(2, h // 4), max(2, w // 4), generator=g), size=(h, w), mode="bilinear"
    )
    return (x * 255).round() / 255


def _reference_cosines(model, processor, images: torch.Tensor, captions: list[str]) -> torch.Tensor:
    inputs = processor(
        text=captions, images=list((images * 255).round().to(torch.uint8)), return_tensors="pt", padding=True
    )
    with torch.no_grad():
        out = model(**inputs)
    return (out.image_embeds * out.text_embeds).sum(-1).double()  # both are unit-normalised


def test_clip_t_equals_transformers_path(tiny_clip):
    model, processor = tiny_clip
    images = _images(3)
    ref = _reference_cosines(model, processor, images, CAPTIONS)
    raw = CLIPTextScore(model, processor, scale=1.0, clamp_negative=False)
    values, truncated = raw.forward_values(images, CAPTIONS)
    assert truncated == 0
    assert torch.allclose(values.double(), ref, atol=1e-5)
    default = CLIPTextScore(model, processor, model_name="tiny-clip")
    default.update(images, CAPTIONS)
    assert torch.allclose(default.per_item(), 100 * ref.clamp_min(0), atol=1e-3)
    d = default.describe()
    assert d["model"] == "tiny-clip" and d["scale"] == 100.0 and d["clamp_negative"] and d["max_length"] == 77


def test_clip_t_counts_truncated_captions_and_is_differentiable(tiny_clip):
    model, processor = tiny_clip
    m = CLIPTextScore(model, processor)
    long_caption = " ".join(["a red circle and"] * 30)  # > 77 tokens
    m.update(_images(2), [long_caption, "a red circle"])
    assert m.describe()["truncated_captions"] == 1
    images = _images(2).requires_grad_(True)
    values, _ = CLIPTextScore(model, processor, clamp_negative=False).forward_values(
        images, ["a red circle"] * 2
    )
    values.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        m.update(_images(2), ["a red circle"])


def test_clip_preprocess_matches_processor_when_resizing(tiny_clip):
    _, processor = tiny_clip
    images = _images(2, 48, 64)
    ours = ImagePreprocess.from_processor(processor)(images)
    ref = processor(images=list((images * 255).round().to(torch.uint8)), return_tensors="pt")["pixel_values"]
    assert ours.shape == ref.shape == (2, 3, 32, 32)
    # torch's antialiased bicubic vs PIL's bicubic on 8-bit data: small differences only
    assert (ours - ref).abs().mean() < 0.01 and (ours - ref).abs().max() < 0.06


def test_clip_i_equals_cosine_of_image_embeddings(tiny_clip):
    model, processor = tiny_clip
    a, b = _images(3, seed=1), _images(3, seed=2)
    m = CLIPImageScore(model, processor)
    m.update(a, b)
    with torch.no_grad():
        ea = model.get_image_features(
            **processor(images=list((a * 255).round().to(torch.uint8)), return_tensors="pt")
        )
        eb = model.get_image_features(
            **processor(images=list((b * 255).round().to(torch.uint8)), return_tensors="pt")
        )
    ea = getattr(ea, "pooler_output", ea)
    eb = getattr(eb, "pooler_output", eb)
    ref = F.cosine_similarity(ea, eb, dim=-1).double()
    assert torch.allclose(m.per_item(), ref, atol=1e-5)
    same = CLIPImageScore(CLIPImageEncoder(model, processor, name="enc"))
    same.update(a, a)
    assert torch.allclose(same.per_item(), torch.ones(3, dtype=torch.float64), atol=1e-5)
    assert same.describe()["model"] == "enc"


@pytest.fixture
def tiny_dinov2():
    from transformers import BitImageProcessorPil, Dinov2Config, Dinov2Model

    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=32, patch_size=8
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Dinov2Model(config).eval()
    processor = BitImageProcessorPil(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    return model, processor


def test_concept_fidelity_with_dinov2_encoder(tiny_dinov2):
    model, processor = tiny_dinov2
    encoder = HFVisionEncoder(model, processor, pooling="cls", name="tiny-dinov2")
    images, refs = _images(3, seed=3), _images(2, seed=4)
    m = ConceptFidelity(encoder)
    m.update(images, refs)

    def embed(x):
        px = processor(images=list((x * 255).round().to(torch.uint8)), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            return F.normalize(model(pixel_values=px).last_hidden_state[:, 0], dim=-1)

    ref = (embed(images) @ embed(refs).T).mean(dim=1).double()
    assert torch.allclose(m.per_item(), ref, atol=1e-5)
    assert m.describe()["encoder"] == "tiny-dinov2"
    # one reference set per image gives the same numbers
    per = ConceptFidelity(encoder)
    per.update(images, [refs, refs, refs])
    assert torch.allclose(per.per_item(), m.per_item(), atol=1e-6)


def test_concept_fidelity_with_toy_clip_vision_tower(tiny_clip):
    model, processor = tiny_clip
    m = ConceptFidelity(CLIPImageEncoder(model, processor))
    x = _images(2)
    m.update(x, x[:1])
    assert abs(m.per_item()[0].item() - 1.0) < 1e-5 and m.per_item()[1].item() < 1.0


def test_tokenizer_without_vocabulary_is_refused(tiny_clip):
    model, processor = tiny_clip

    class Tiny:
        def __len__(self):
            return 2

    with pytest.raises(ValueError, match="only 2 tokens"):
        CLIPTextScore(model, tokenizer=Tiny())
