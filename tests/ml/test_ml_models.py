"""Models: sized from the schema, normalization inside, masks respected."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hitprep.errors import ConfigError  # noqa: E402
from hitprep.ml.models import (  # noqa: E402
    ConvNet,
    ConvNetExtraInput,
    MultiVolumeCNN,
    PointNet,
    build_model,
    default_model,
)
from hitprep.ml.schema import InputSpec, Schema  # noqa: E402

pytest_plugins = ["ml_fixtures"]  # shared files of every layout (tests/ml/ml_fixtures.py)


def _schema(*inputs: InputSpec, extras: tuple[str, ...] = (), classes: int = 2) -> Schema:
    return Schema("images", inputs, extras=extras, classes=tuple(range(classes)))


@pytest.mark.parametrize("shape", [(1, 100), (1, 18, 100), (3, 20, 20), (2, 9, 10, 11), (1, 1, 5)])
def test_convnet_fits_1d_2d_3d_images(shape: tuple[int, ...]) -> None:
    model = build_model("convnet", _schema(InputSpec("x", "image", shape)), {})
    out = model({"x": torch.rand(4, *shape)})
    assert out.shape == (4, 2)


def test_convnet_has_two_conv_and_two_dense_layers() -> None:
    model = ConvNet(_schema(InputSpec("x", "image", (1, 16, 16))), conv_channels=(8, 16))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    dense = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [8, 16]
    assert len(dense) == 2 and dense[-1].out_features == 2


def test_extra_inputs_change_the_output() -> None:
    schema = _schema(InputSpec("x", "image", (1, 8, 8)), extras=("mass",))
    model = ConvNetExtraInput(schema)
    x = torch.rand(3, 1, 8, 8)
    a = model({"x": x, "extras": torch.full((3, 1), 10.0)})
    b = model({"x": x, "extras": torch.full((3, 1), 100.0)})
    assert not torch.allclose(a, b)


def test_models_refuse_data_they_do_not_fit() -> None:
    image = InputSpec("x", "image", (1, 8, 8))
    with pytest.raises(ConfigError, match="use convnet_extra or multivolume"):
        ConvNet(_schema(image, extras=("mass",)))
    with pytest.raises(ConfigError, match="at least one extra input"):
        ConvNetExtraInput(_schema(image))
    with pytest.raises(ConfigError, match="takes nodes inputs"):
        PointNet(_schema(image))
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        build_model("resnet", _schema(image), {})


def test_multivolume_has_one_tower_per_input() -> None:
    schema = _schema(InputSpec("v0", "image", (4, 16, 16)), InputSpec("v1", "image", (2, 16, 4)))
    model = MultiVolumeCNN(schema)
    assert sorted(model.towers) == ["v0", "v1"]
    out = model({"v0": torch.rand(2, 4, 16, 16), "v1": torch.rand(2, 2, 16, 4)})
    assert out.shape == (2, 2)


def test_default_model_follows_the_data() -> None:
    image, nodes = InputSpec("x", "image", (1, 4, 4)), InputSpec("x", "nodes", (3,))
    assert default_model([image], []) == "convnet"
    assert default_model([image], ["mass"]) == "convnet_extra"
    assert default_model([image, image], []) == "multivolume"
    assert default_model([nodes], []) == "pointnet"


def test_normalization_uses_the_schema_statistics() -> None:
    schema = _schema(InputSpec("x", "image", (2, 4, 4)))
    stats = {"x": {"mean": [10.0, -5.0], "std": [2.0, 0.5]}}
    model = build_model("convnet", schema.with_stats(stats), {})
    x = torch.stack([torch.full((4, 4), 12.0), torch.full((4, 4), -5.5)])[None]
    normalized = model.norms["x"](x)
    assert torch.allclose(normalized[0, 0], torch.ones(4, 4))
    assert torch.allclose(normalized[0, 1], -torch.ones(4, 4))
    logged = build_model(
        "convnet", Schema("images", schema.inputs, classes=(0, 1), transform="log1p"), {}
    )
    assert torch.allclose(
        logged.norms["x"](torch.full((1, 2, 4, 4), 3.0)),
        torch.log1p(torch.tensor(3.0)).expand(1, 2, 4, 4),
    )


def _pointnet() -> PointNet:
    schema = Schema("graph", (InputSpec("x", "nodes", (4,)),), classes=(0, 1))
    torch.manual_seed(0)
    return PointNet(schema)


def test_pointnet_ignores_padded_nodes() -> None:
    model = _pointnet().eval()
    x = torch.randn(2, 6, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    before = model({"x": x, "x_mask": mask})
    x2 = x.clone()
    x2[0, 3:] = 1e6  # garbage in the padding
    after = model({"x": x2, "x_mask": mask})
    assert torch.allclose(before, after)
    shorter = model({"x": x[:1, :3], "x_mask": mask[:1, :3]})
    assert torch.allclose(before[:1], shorter, atol=1e-6)


def test_pointnet_is_permutation_invariant_and_takes_empty_events() -> None:
    model = _pointnet().eval()
    x = torch.randn(1, 5, 4)
    mask = torch.ones(1, 5, dtype=torch.bool)
    perm = torch.randperm(5)
    assert torch.allclose(
        model({"x": x, "x_mask": mask}), model({"x": x[:, perm], "x_mask": mask}), atol=1e-6
    )
    empty = model({"x": torch.zeros(1, 5, 4), "x_mask": torch.zeros(1, 5, dtype=torch.bool)})
    assert torch.isfinite(empty).all()
