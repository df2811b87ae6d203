"""LPIPS: equal to the ``lpips`` package on identical backbone weights; weights handling."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest
import torch

from metrics import LPIPS
from metrics.perceptual import LPIPS_BACKBONE_ENV, AlexNetFeatures, LPIPSWeightsError, VGG16Features


@pytest.fixture
def lpips_package(monkeypatch):
    """Import the ``lpips`` package with a stand-in ``torchvision.models`` that returns this project's
    backbones (same module layout); yields ``(lpips, created)`` where ``created[net]`` is the backbone
    instance the package wrapped. sys.modules is restored afterwards."""
    created: dict[str, torch.nn.Module] = {}

    def factory(cls, key):
        def build(pretrained=False, **kwargs):
            assert not pretrained  # the test asks for pnet_rand=True: no download
            created[key] = cls()
            return created[key]

        return build

    tv = types.ModuleType("torchvision")
    tv.__spec__ = importlib.machinery.ModuleSpec("torchvision", None)
    models = types.ModuleType("torchvision.models")
    models.__spec__ = importlib.machinery.ModuleSpec("torchvision.models", None)
    models.alexnet = factory(AlexNetFeatures, "alex")
    models.vgg16 = factory(VGG16Features, "vgg")
    models.squeezenet1_1 = lambda **kw: pytest.fail("squeezenet is not under test")
    tv.models = models
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    for name in [m for m in sys.modules if m == "lpips" or m.startswith("lpips.")]:
        monkeypatch.delitem(sys.modules, name)
    import lpips

    yield lpips, created
    for name in [m for m in sys.modules if m == "lpips" or m.startswith("lpips.")]:
        del sys.modules[name]


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_equals_reference_package(lpips_package, net):
    lpips, created = lpips_package
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        reference = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
    ours = LPIPS(net=net, backbone_state_dict=created[net].state_dict())
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 64, 64, generator=g)
    y = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    with torch.no_grad():
        ref = reference(x, y, normalize=True).flatten().double()  # [0, 1] inputs
        ref_pm1 = reference(x * 2 - 1, y * 2 - 1).flatten().double()  # [-1, 1] inputs
    assert torch.allclose(ours.forward_values(x, y), ref, atol=1e-5, rtol=0)
    pm1 = LPIPS(net=net, input_range="[-1,1]", backbone_state_dict=created[net].state_dict())
    assert torch.allclose(pm1.forward_values(x * 2 - 1, y * 2 - 1), ref_pm1, atol=1e-5, rtol=0)
    assert float(ref.min()) > 0  # a non-trivial comparison
    ours.update(x, y)
    assert abs(ours.compute().item() - ref.mean().item()) < 1e-5
    assert ours.describe()["backbone_weights"] == "state dict passed by the caller"


def test_lpips_without_backbone_weights_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(LPIPS_BACKBONE_ENV, raising=False)
    with pytest.raises(LPIPSWeightsError) as err:
        LPIPS(net="alex")
    text = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in text and LPIPS_BACKBONE_ENV in text
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in text
    with pytest.raises(LPIPSWeightsError, match="vgg16-397923af.pth"):
        LPIPS(net="vgg")


def test_lpips_loads_torchvision_files(tmp_path, monkeypatch):
    """A torchvision-format checkpoint (with classifier weights) found through the env var, and a
    safetensors conversion passed as a path, give the same numbers."""
    from safetensors.torch import save_file

    backbone = AlexNetFeatures()
    state = dict(backbone.state_dict())
    state["classifier.1.weight"] = torch.zeros(4, 4)  # torchvision files carry the classifier too
    torch.save(state, tmp_path / "alexnet-owt-7be5be79.pth")
    save_file(
        {k: v.contiguous() for k, v in backbone.state_dict().items()}, str(tmp_path / "alex.safetensors")
    )
    monkeypatch.setenv(LPIPS_BACKBONE_ENV, str(tmp_path))
    a = LPIPS(net="alex")
    b = LPIPS(net="alex", backbone_path=tmp_path / "alex.safetensors")
    x, y = torch.rand(2, 3, 40, 40), torch.rand(2, 3, 40, 40)
    assert a.backbone_source.endswith("alexnet-owt-7be5be79.pth")
    assert torch.equal(a.forward_values(x, y), b.forward_values(x, y))
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a torchvision alex checkpoint"):
        LPIPS(net="alex", backbone_path=tmp_path / "bad.pth")


def test_lpips_random_backbone_is_explicit_and_checks_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv(LPIPS_BACKBONE_ENV, raising=False)
    m = LPIPS(net="alex", allow_random_backbone=True)
    assert "random" in m.describe()["backbone_weights"]
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(m.forward_values(x, x), torch.zeros(2, dtype=torch.float64))
    from metrics import MetricInputError

    with pytest.raises(MetricInputError, match="outside the declared range"):
        m.update(x * 2 - 1, x)  # [-1, 1] data declared as [0, 1]
    with pytest.raises(MetricInputError, match="at least 32x32"):
        m.update(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(MetricInputError, match="input_range"):
        LPIPS(net="alex", input_range="[0,255]", allow_random_backbone=True)
