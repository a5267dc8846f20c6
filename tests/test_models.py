"""Model zoo and initializations: parameter counts from the papers, forward shapes, Keras
initializer statistics, determinism and untouched global random state, clear errors."""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch
from torch import nn

from landscope import ParameterLayout
from landscope.models import (
    INITIALIZERS,
    MODELS,
    build_model,
    count_parameters,
    initialize,
    keras_fans,
    list_models,
)

# --- parameter counts ----------------------------------------------------------------------------

# (model, input_shape, output_dim, options, expected count, where the number comes from)
PAPER_COUNTS = [
    ("mlp", (4,), 3, {"widths": [24, 14]}, 515, "Fjellström Iris 4-24-14-3, Table 5 m = 515"),
    ("mlp", (7,), 1, {"widths": [21, 13]}, 468, "Fjellström Auto MPG 7-21-13-1"),
    ("mlp", (1, 8, 8), 10, {"widths": [100, 100]}, 17_610, "Gur-Ari FC 2x100 on 8x8 digits"),
    ("mlp", (1, 28, 28), 10, {"widths": [50, 50]}, 42_310, "Haink MLP 50, Table 5.1 42k"),
    ("mlp", (3, 32, 32), 10, {"widths": [256, 128, 64]}, 828_490, "Haink MLP 256, 828k"),
    ("lenet", (3, 32, 32), 10, {}, 136_886, "Haink LeNet on CIFAR-10, Table 5.1 137k"),
    ("resnet20", (3, 32, 32), 10, {"shortcut": "B"}, 272_474, "Haink ResNet 20, 272k"),
    ("resnet20", (3, 32, 32), 10, {"shortcut": "A"}, 269_722, "He et al. option A, 0.27M"),
    ("keras_cifar_convnet", (3, 32, 32), 10, {}, 1_250_858, "Keras cifar10_cnn.py summary"),
    ("softmax_regression", (1, 28, 28), 10, {}, 7_840, "784 x 10, no bias"),
    ("deep_linear", (1, 28, 28), 10, {"depth": 10}, 9 * 784**2 + 7_840, "Goodfellow Fig. 15"),
    ("factored_scalar", (1,), 1, {}, 2, "y = w1 w2 x"),
    ("resnet18_cifar", (3, 32, 32), 10, {}, 11_173_962, "CIFAR ResNet-18 (kuangliu) count"),
]


@pytest.mark.parametrize(
    "name,input_shape,output_dim,options,expected,source",
    PAPER_COUNTS,
    ids=[c[-1] for c in PAPER_COUNTS],
)
def test_parameter_counts_match_the_papers(
    name, input_shape, output_dim, options, expected, source
):
    # the meta device builds the module without memory or random draws (counts only)
    with torch.device("meta"):
        model = build_model(name, input_shape=input_shape, output_dim=output_dim, **options)
    assert count_parameters(model) == expected, source


def test_hand_counted_lenet_and_convnet_on_small_images():
    # LeNet on 1x8x8 ('same' convs, floor pooling): 8 -> 4 -> 2, so fc1 sees 16*2*2 = 64 inputs:
    # conv1 1*6*25+6, conv2 6*16*25+16, fc 64*120+120, 120*84+84, 84*10+10.
    lenet = build_model("lenet", input_shape=(1, 8, 8), output_dim=10)
    assert count_parameters(lenet) == 156 + 2416 + 7800 + 10164 + 850
    # Keras ConvNet on 1x8x8 with all-'same' convs: 8 -> 4 -> 2, flatten 64*2*2 = 256.
    convnet = build_model(
        "keras_cifar_convnet", input_shape=(1, 8, 8), output_dim=10, padding="same"
    )
    assert count_parameters(convnet) == 320 + 9248 + 18496 + 36928 + (256 * 512 + 512) + 5130
    # ResNet-20's count does not depend on the resolution; the stem loses 2*16*9 weights.
    resnet = build_model("resnet20", input_shape=(1, 8, 8), output_dim=10)
    assert count_parameters(resnet) == 272_474 - 2 * 16 * 9


def test_list_models_rows_and_counts():
    rows = {r["name"]: r for r in list_models()}
    assert set(rows) == set(MODELS)
    for row in rows.values():
        assert set(row) == {"name", "description", "options", "example", "parameters"}
    assert rows["resnet20"]["parameters"] == 272_474
    assert rows["lenet"]["parameters"] == 136_886
    assert rows["mlp"]["parameters"] == 784 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
    # a count reported on the meta device equals the count of a real build
    spec = MODELS["keras_cifar_convnet"]
    real = build_model(
        spec.name, input_shape=spec.example_input_shape, output_dim=spec.example_output_dim
    )
    assert rows[spec.name]["parameters"] == count_parameters(real)


def test_mlp_layout_reads_input_to_output():
    model = build_model("mlp", input_shape=(4,), output_dim=3, widths=[24, 14])
    layout = ParameterLayout.from_module(model)
    assert layout.layers == ["layers.0", "layers.1", "layers.2"]
    assert layout.shapes == [(24, 4), (24,), (14, 24), (14,), (3, 14), (3,)]
    no_bias = build_model("mlp", input_shape=(4,), output_dim=3, widths=[5], bias=False)
    assert ParameterLayout.from_module(no_bias).names == ["layers.0.weight", "layers.1.weight"]


# --- forward passes --------------------------------------------------------------------------------

FORWARD_CASES = [
    ("softmax_regression", (2,), 2, {}),
    ("mlp", (4,), 3, {"widths": [24, 14], "activation": "tanh"}),
    ("mlp", (1, 8, 8), 10, {"activation": "softplus"}),
    ("mlp", (7,), 1, {"widths": [21, 13], "activation": "sigmoid"}),
    ("deep_linear", (1, 8, 8), 10, {"depth": 4, "bias": True}),
    ("factored_scalar", (1,), 1, {}),
    ("lenet", (1, 28, 28), 10, {}),
    ("lenet", (1, 8, 8), 10, {}),
    ("lenet", (3, 32, 32), 10, {"padding": "valid"}),
    ("keras_cifar_convnet", (3, 32, 32), 10, {}),
    (
        "keras_cifar_convnet",
        (3, 32, 32),
        10,
        {"dropout": True, "batch_norm": True, "extra_dense": True},
    ),
    ("keras_cifar_convnet", (1, 8, 8), 10, {"padding": "same", "dropout": 0.1}),
    ("resnet20", (3, 32, 32), 10, {}),
    ("resnet20", (1, 8, 8), 10, {"shortcut": "A"}),
    ("resnet20", (1, 8, 8), 10, {"batch_norm": False}),
    ("resnet18_cifar", (3, 32, 32), 10, {}),
]


@pytest.mark.parametrize("name,input_shape,output_dim,options", FORWARD_CASES)
def test_forward_runs_on_intended_input(name, input_shape, output_dim, options):
    model = build_model(name, input_shape=input_shape, output_dim=output_dim, **options)
    initialize(model, seed=0)
    x = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(1))
    for mode in (True, False):
        model.train(mode)
        out = model(x)
        assert out.shape == (2, output_dim)
        assert torch.isfinite(out).all()


def test_image_models_accept_flat_or_channel_free_input():
    model = initialize(build_model("lenet", input_shape=(8, 8), output_dim=10), seed=0).eval()
    x = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(x), model(x.reshape(2, 64)), rtol=0, atol=0)
    torch.testing.assert_close(model(x), model(x.reshape(2, 1, 8, 8)), rtol=0, atol=0)


def test_linear_models_compute_their_formulas():
    # deep linear: y = W3 W2 W1 x (Goodfellow sec. 5), independent of how the module applies it
    model = initialize(
        build_model("deep_linear", input_shape=(5,), output_dim=2, depth=3), seed=4
    ).double()
    w1, w2, w3 = (layer.weight for layer in model.layers)
    assert [tuple(w.shape) for w in (w1, w2, w3)] == [(5, 5), (5, 5), (2, 5)]
    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(x), x @ (w3 @ w2 @ w1).T, rtol=1e-12, atol=1e-12)
    # factored scalar: y = w1 w2 x; constant 2 gives y = 4x, and (1 - w1 w2)^2 = 9 at x = 1
    scalar = initialize(
        build_model("factored_scalar", input_shape=(1,), output_dim=1),
        "constant",
        seed=0,
        weight_params={"value": 2.0},
    )
    assert scalar(torch.tensor([[1.0], [-0.5]])).flatten().tolist() == [4.0, -2.0]
    assert (1 - scalar(torch.ones(1, 1))).square().item() == 9.0
    # softmax regression: logits = theta x, no bias
    soft = build_model("softmax_regression", input_shape=(3,), output_dim=2)
    assert [n for n, _ in soft.named_parameters()] == ["layers.0.weight"]
    x = torch.randn(4, 3)
    torch.testing.assert_close(soft(x), x @ soft.layers[0].weight.T)


# --- initializer statistics --------------------------------------------------------------------------

FAN_IN, FAN_OUT = 600, 400  # a 400 x 600 dense weight: 240,000 samples
N = FAN_IN * FAN_OUT
# Relative sampling error of a sample std from n = 240,000 draws is about sqrt((kurtosis - 1) / n) / 2
# <= sqrt(2 / n) / 2 = 0.0014 for the normal (smaller for uniform / truncated): 1.5% is > 10 sigma.
STD_RTOL = 0.015
# Truncated normal bound: the largest of 240,000 |w| is within 1% of the 2-sigma cut-off with
# probability 1 - (1 - P(|z| in [1.98, 2]))^n, i.e. essentially surely; likewise for uniform limits.
MAX_RTOL = 0.01
# The mean of n draws has std sigma / sqrt(n); 6 of those bound it.
MEAN_SIGMAS = 6
TRUNC_STD = scipy.stats.truncnorm(-2, 2).std()  # std of N(0,1) cut at +-2, independently: 0.8796


def _dense_weight(weight: str, seed: int = 0, **params) -> torch.Tensor:
    layer = nn.Linear(FAN_IN, FAN_OUT).double()
    initialize(layer, weight, seed=seed, weight_params=params or None)
    return layer.weight.detach()


def _check_stats(w: torch.Tensor, std: float, bound: float, mean: float = 0.0) -> None:
    n = w.numel()
    assert abs(w.mean().item() - mean) < MEAN_SIGMAS * std / math.sqrt(n)
    assert w.std().item() == pytest.approx(std, rel=STD_RTOL)
    dev = (w - mean).abs().max().item()
    assert dev <= bound * (1 + 1e-12)
    assert dev >= bound * (1 - MAX_RTOL)


# (name, params, std of the distribution, bound of |w - mean|) by the Keras formulas
KERAS_FORMULAS = [
    ("glorot_uniform", {}, math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (
        "glorot_normal",
        {},
        math.sqrt(2 / (FAN_IN + FAN_OUT)),
        2 * math.sqrt(2 / (FAN_IN + FAN_OUT)) / TRUNC_STD,
    ),
    ("he_uniform", {}, math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    ("he_normal", {}, math.sqrt(2 / FAN_IN), 2 * math.sqrt(2 / FAN_IN) / TRUNC_STD),
    ("lecun_uniform", {}, math.sqrt(1 / FAN_IN), math.sqrt(3 / FAN_IN)),
    ("lecun_normal", {}, math.sqrt(1 / FAN_IN), 2 * math.sqrt(1 / FAN_IN) / TRUNC_STD),
    ("truncated_normal", {}, 0.05 * TRUNC_STD, 0.1),
    ("truncated_normal", {"stddev": 0.2}, 0.2 * TRUNC_STD, 0.4),
    ("random_uniform", {}, 0.1 / math.sqrt(12), 0.05),
    ("random_uniform", {"minval": -1.0, "maxval": 1.0}, 2 / math.sqrt(12), 1.0),
    (
        "variance_scaling",
        {"scale": 3.0, "mode": "fan_out", "distribution": "uniform"},
        math.sqrt(3 / FAN_OUT),
        math.sqrt(9 / FAN_OUT),
    ),
    ("pytorch_default", {}, 1 / math.sqrt(3 * FAN_IN), 1 / math.sqrt(FAN_IN)),
]


@pytest.mark.parametrize(
    "name,params,std,bound", KERAS_FORMULAS, ids=[f"{c[0]}{c[1] or ''}" for c in KERAS_FORMULAS]
)
def test_initializer_statistics_match_keras_formulas(name, params, std, bound):
    _check_stats(_dense_weight(name, **params), std, bound)


def test_keras_truncation_constant_is_the_truncated_std():
    from landscope.models._initializers import TRUNCATED_NORMAL_STD

    assert TRUNCATED_NORMAL_STD == pytest.approx(TRUNC_STD, rel=1e-12)


def test_random_normal_and_mean_parameter():
    w = _dense_weight("random_normal")
    assert abs(w.mean().item()) < MEAN_SIGMAS * 0.05 / math.sqrt(N)
    assert w.std().item() == pytest.approx(0.05, rel=STD_RTOL)
    _check_stats(
        _dense_weight("truncated_normal", mean=1.0, stddev=0.1), 0.1 * TRUNC_STD, 0.2, mean=1.0
    )


def test_fans_follow_keras_for_dense_and_conv():
    # PyTorch (out, in) is Keras' (in, out); PyTorch (out, in, kh, kw) is Keras' (kh, kw, in, out)
    assert keras_fans((3, 4)) == (4, 3)
    assert keras_fans((32, 16, 3, 3)) == (16 * 9, 32 * 9)
    assert keras_fans((8, 2, 5)) == (10, 40)
    assert keras_fans((7,)) == (7, 7)
    # statistics on a conv weight: 128 x 64 x 5 x 5 = 204,800 samples
    conv = nn.Conv2d(64, 128, 5).double()
    initialize(conv, "glorot_uniform", seed=1)
    fan_in, fan_out = 64 * 25, 128 * 25
    _check_stats(
        conv.weight.detach(), math.sqrt(2 / (fan_in + fan_out)), math.sqrt(6 / (fan_in + fan_out))
    )
    initialize(conv, "he_normal", seed=1)
    _check_stats(conv.weight.detach(), math.sqrt(2 / fan_in), 2 * math.sqrt(2 / fan_in) / TRUNC_STD)


@pytest.mark.parametrize("out_features,in_features", [(30, 50), (50, 30), (40, 40)])
def test_orthogonal(out_features, in_features):
    layer = initialize(nn.Linear(in_features, out_features).double(), "orthogonal", seed=3)
    w = layer.weight.detach().clone()
    small = min(out_features, in_features)
    gram = w @ w.T if out_features <= in_features else w.T @ w
    torch.testing.assert_close(gram, torch.eye(small, dtype=torch.float64), rtol=0, atol=1e-12)
    initialize(layer, "orthogonal", seed=3, weight_params={"gain": 2.0})
    w2 = layer.weight.detach()
    torch.testing.assert_close(w2, 2 * w, rtol=0, atol=1e-12)  # same draw, scaled by the gain
    # conv: the (out, in*kh*kw) matrix has orthonormal rows
    conv = initialize(nn.Conv2d(4, 16, 3).double(), "orthogonal", seed=0)
    m = conv.weight.detach().reshape(16, -1)
    torch.testing.assert_close(m @ m.T, torch.eye(16, dtype=torch.float64), rtol=0, atol=1e-12)


def test_identity_constant_zeros_exact():
    square = initialize(nn.Linear(4, 4), "identity", seed=0)
    assert torch.equal(square.weight, torch.eye(4))
    # Keras' eye of the (in, out) kernel shape is eye(out, in) in PyTorch's layout
    wide = initialize(nn.Linear(3, 5), "identity", seed=0, weight_params={"gain": 0.5})
    assert torch.equal(wide.weight, 0.5 * torch.eye(5, 3))
    const = initialize(
        nn.Linear(3, 5),
        "constant",
        "constant",
        seed=0,
        weight_params={"value": 5.0},
        bias_params={"value": -1.5},
    )
    assert torch.equal(const.weight, torch.full((5, 3), 5.0))
    assert torch.equal(const.bias, torch.full((5,), -1.5))
    zero = initialize(nn.Conv2d(2, 3, 3), "zeros", "ones", seed=0)
    assert torch.equal(zero.weight, torch.zeros(3, 2, 3, 3))
    assert torch.equal(zero.bias, torch.ones(3))


def test_biases_zero_by_default_and_pytorch_default_bias_uses_weight_fan_in():
    model = build_model("mlp", input_shape=(4,), output_dim=3, widths=[24])
    initialize(model, "glorot_uniform", seed=0)
    assert all(torch.equal(layer.bias, torch.zeros_like(layer.bias)) for layer in model.layers)
    layer = initialize(
        nn.Linear(FAN_IN, 2000).double(), "pytorch_default", "pytorch_default", seed=0
    )
    bound = 1 / math.sqrt(FAN_IN)
    assert layer.bias.abs().max().item() <= bound
    assert layer.bias.abs().max().item() >= 0.99 * bound  # 2000 uniform draws reach the bound
    assert layer.bias.std().item() == pytest.approx(
        bound / math.sqrt(3), rel=0.1
    )  # n = 2000: 10% is > 6 sigma


def test_batch_norm_reset_to_one_and_zero():
    model = build_model("resnet20", input_shape=(3, 8, 8), output_dim=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(3.0)
                m.bias.fill_(-2.0)
                m.running_mean.fill_(7.0)
    initialize(model, "glorot_normal", seed=0)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 1 + 18 + 2  # stem, two per block, two projection shortcuts
    for m in norms:
        assert torch.equal(m.weight, torch.ones_like(m.weight))
        assert torch.equal(m.bias, torch.zeros_like(m.bias))
        assert torch.equal(m.running_mean, torch.zeros_like(m.running_mean))
        assert torch.equal(m.running_var, torch.ones_like(m.running_var))


# --- determinism ---------------------------------------------------------------------------------------


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "weight",
    ["glorot_uniform", "glorot_normal", "orthogonal", "truncated_normal", "pytorch_default"],
)
def test_same_seed_same_weights_other_seed_different_global_rng_untouched(weight):
    # two builds draw different PyTorch defaults from the global RNG; initialize must erase that
    a = build_model("lenet", input_shape=(1, 8, 8), output_dim=10)
    b = build_model("lenet", input_shape=(1, 8, 8), output_dim=10)
    c = build_model("lenet", input_shape=(1, 8, 8), output_dim=10)
    assert not torch.equal(a.conv1.weight, b.conv1.weight)
    rng = torch.get_rng_state()
    initialize(a, weight, "random_normal", seed=11)
    initialize(b, weight, "random_normal", seed=11)
    initialize(c, weight, "random_normal", seed=12)
    assert torch.equal(torch.get_rng_state(), rng)
    sa, sb, sc = _state(a), _state(b), _state(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    weights = [k for k in sa if k.endswith("weight")]
    assert all(not torch.equal(sa[k], sc[k]) for k in weights)


def test_second_initialize_same_seed_gives_same_outputs():
    model = build_model("resnet20", input_shape=(3, 8, 8), output_dim=10)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    initialize(model, "he_normal", seed=5)
    model.eval()
    before = model(x)
    model.train()
    model(x)  # updates BatchNorm running statistics
    with torch.no_grad():
        model.fc.weight.add_(1.0)
    initialize(model, "he_normal", seed=5)
    model.eval()
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)


def test_same_seed_same_values_in_float32_and_float64():
    a = initialize(build_model("mlp", input_shape=(4,), output_dim=3), seed=2)
    b = initialize(build_model("mlp", input_shape=(4,), output_dim=3).double(), seed=2)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert pb.dtype == torch.float64
        torch.testing.assert_close(
            pa, pb.float(), rtol=0, atol=0
        )  # both are the float64 draw rounded


# --- errors ---------------------------------------------------------------------------------------------


def test_unknown_names_and_options_list_the_allowed_ones():
    model = nn.Linear(3, 2)
    with pytest.raises(
        ValueError, match=r"unknown weight initializer 'glorot'.*allowed: .*glorot_uniform"
    ):
        initialize(model, "glorot", seed=0)
    with pytest.raises(ValueError, match=r"unknown bias initializer 'zero'.*allowed: .*zeros"):
        initialize(model, bias="zero", seed=0)
    with pytest.raises(
        ValueError, match=r"unknown parameter\(s\) \['stdev'\]; allowed: mean=0.0, stddev=0.05"
    ):
        initialize(model, "random_normal", seed=0, weight_params={"stdev": 1.0})
    with pytest.raises(
        ValueError, match=r"'glorot_uniform' got unknown parameter\(s\) \['gain'\]; allowed: none"
    ):
        initialize(model, "glorot_uniform", seed=0, weight_params={"gain": 1.0})
    with pytest.raises(TypeError, match="seed must be an int"):
        initialize(model, seed=1.5)
    with pytest.raises(ValueError, match=r"unknown model 'resnet21'; allowed: .*resnet20"):
        build_model("resnet21", input_shape=(3, 32, 32), output_dim=10)
    with pytest.raises(
        ValueError,
        match=r"unknown option\(s\) \['width'\]; allowed: widths=\(100, 100\), activation='relu', bias=True",
    ):
        build_model("mlp", input_shape=(4,), output_dim=3, width=5)
    with pytest.raises(
        ValueError,
        match="unknown activation 'gelu'; allowed: relu, softplus, sigmoid, tanh, linear",
    ):
        build_model("mlp", input_shape=(4,), output_dim=3, activation="gelu")
    with pytest.raises(ValueError, match="shortcut must be one of"):
        build_model("resnet20", input_shape=(3, 32, 32), output_dim=10, shortcut="C")
    with pytest.raises(ValueError, match="output_dim must be a positive int"):
        build_model("mlp", input_shape=(4,), output_dim=0)


def test_bad_shapes_are_named():
    with pytest.raises(
        ValueError, match=r"lenet needs an image input_shape \(C, H, W\) or \(H, W\), got \(64,\)"
    ):
        build_model("lenet", input_shape=(64,), output_dim=10)
    with pytest.raises(ValueError, match=r"too small for keras_cifar_convnet.*padding='same'"):
        build_model("keras_cifar_convnet", input_shape=(1, 8, 8), output_dim=10)
    with pytest.raises(ValueError, match="factored_scalar maps a scalar to a scalar"):
        build_model("factored_scalar", input_shape=(2,), output_dim=1)
    with pytest.raises(ValueError, match="dropout must be"):
        build_model(
            "keras_cifar_convnet", input_shape=(3, 32, 32), output_dim=10, dropout=(0.1, 0.2)
        )


def test_failed_initialize_leaves_model_untouched():
    model = build_model("lenet", input_shape=(1, 8, 8), output_dim=10)
    before = _state(model)
    # identity is defined for dense weights only (as Keras); the error names the conv weight
    with pytest.raises(ValueError, match=r"cannot initialize 'conv1.weight' with 'identity'.*2-D"):
        initialize(model, "identity", seed=0)
    with pytest.raises(ValueError, match=r"cannot initialize 'conv1\.bias' with 'orthogonal'"):
        initialize(model, "glorot_uniform", "orthogonal", seed=0)
    after = _state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_unknown_parameter_types_raise_unless_not_strict():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.full((2,), 3.0))
            self.lin = nn.Linear(3, 2)

    model = Scaled()
    with pytest.raises(
        ValueError, match=r"does not know how to initialize parameter\(s\) \['scale'\]"
    ):
        initialize(model, seed=0)
    initialize(model, "constant", seed=0, strict=False, weight_params={"value": 1.0})
    assert torch.equal(model.scale, torch.full((2,), 3.0))
    assert torch.equal(model.lin.weight, torch.ones(2, 3))


def test_embedding_tables_are_drawn_like_dense_weights():
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2))
    initialize(model, "glorot_uniform", seed=0)
    limit = (6 / (5 + 3)) ** 0.5  # Glorot with fan_in = 3 (dim), fan_out = 5 (rows)
    w = model[0].weight
    assert w.abs().max() <= limit and w.abs().max() > 0.5 * limit
    again = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2))
    initialize(again, "glorot_uniform", seed=0)
    assert torch.equal(again[0].weight, w)


def test_registry_names():
    table5 = {
        "constant",
        "identity",
        "orthogonal",
        "glorot_uniform",
        "random_uniform",
        "truncated_normal",
        "zeros",
    }
    assert table5 <= set(INITIALIZERS)
    assert {
        "glorot_normal",
        "he_uniform",
        "he_normal",
        "lecun_normal",
        "random_normal",
        "pytorch_default",
    } <= set(INITIALIZERS)
    assert MODELS["mlp"].options == {"widths": (100, 100), "activation": "relu", "bias": True}
