"""The model zoo and named, seeded initializations.

Models are plain ``nn.Module`` s built by name (:func:`build_model`, :data:`MODELS`); weights are
initialized with Keras' initializers (Fjellström Table 5) by :func:`initialize` from a seeded
generator, never from the global random state.
"""

from landscope.models._conv import KerasCifarConvNet, LeNet, keras_cifar_convnet, lenet
from landscope.models._dense import MLP, deep_linear, factored_scalar, mlp, softmax_regression
from landscope.models._initializers import INITIALIZERS, Initializer, initialize, keras_fans
from landscope.models._lstm import LSTMClassifier, lstm
from landscope.models._maxout import MaxoutMLP, maxout_mlp
from landscope.models._registry import MODELS, ModelSpec, build_model, count_parameters, list_models
from landscope.models._resnet import BasicBlock, CifarResNet, resnet18_cifar, resnet20
from landscope.models._transformer import TinyGPT, tiny_gpt

__all__ = [
    # registry
    "MODELS",
    "ModelSpec",
    "build_model",
    "count_parameters",
    "list_models",
    # initializations
    "INITIALIZERS",
    "Initializer",
    "initialize",
    "keras_fans",
    # builders
    "deep_linear",
    "factored_scalar",
    "keras_cifar_convnet",
    "lstm",
    "lenet",
    "maxout_mlp",
    "mlp",
    "resnet18_cifar",
    "resnet20",
    "softmax_regression",
    "tiny_gpt",
    # modules
    "BasicBlock",
    "CifarResNet",
    "LSTMClassifier",
    "MaxoutMLP",
    "KerasCifarConvNet",
    "LeNet",
    "MLP",
    "TinyGPT",
]
