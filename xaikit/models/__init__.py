"""Architectures, deterministic training, the cached model zoo, pretrained ImageNet models.

- :func:`simple_cnn`, :func:`vgg_mini`, :func:`mlp` — small functional classifiers whose head is
  ``Dense(name="logits") -> Activation(softmax|sigmoid, name="probs")``;
- :func:`train`, :func:`accuracy` — seeded, resumable training with early stopping;
  :func:`train_stacked` — K fresh models trained side by side as one (ROAR / KAR), and
  :mod:`xaikit.models.workers` — such trainings spread over one single-threaded process per core;
- :func:`zoo`, :func:`zoo_info`, :data:`ZOO`, :func:`cache_dir` — trained models of the kit's
  embedded datasets, cached atomically;
- :func:`pretrained`, :func:`preprocess_input`, :func:`decode_predictions` — ``keras.applications``
  ImageNet models from local weight files, and ``pretrained("efficientnet-lite0")``;
- :func:`efficientnet_lite0`, :func:`decode_imagenet` — EfficientNet-Lite0 with the ImageNet
  weights a dependency ships (read from PyTorch's legacy format by
  :func:`xaikit.models.torch_legacy.load_legacy_pth`), and its top-k class names;
- :func:`logits_model` — the same network without its final softmax/sigmoid (from
  :mod:`xaikit.core.surgery`, where all model surgery lives);
- :func:`train_bottleneck`, :func:`bottleneck_model`, :func:`label_head` — concept bottleneck
  models of an8flower (Koh et al., ICML 2020), trained with the zoo recipe and cached.

Importing this package imports Keras/TensorFlow.
"""

from xaikit.core.surgery import logits_model, output_activation
from xaikit.models.architectures import classifier_head, mlp, simple_cnn, vgg_mini
from xaikit.models.bottleneck import bottleneck_model, label_head, train_bottleneck
from xaikit.models.cache import cache_dir
from xaikit.models.efficientnet import decode_imagenet, efficientnet_lite0
from xaikit.models.pretrained import PRETRAINED, decode_predictions, preprocess_input, pretrained
from xaikit.models.training import accuracy, predict, seed_everything, train, train_stacked
from xaikit.models.zoo import ZOO, Recipe, fast_default, retrain, zoo, zoo_info, zoo_names

__all__ = [
    "simple_cnn",
    "vgg_mini",
    "mlp",
    "classifier_head",
    "train",
    "train_stacked",
    "accuracy",
    "predict",
    "seed_everything",
    "retrain",
    "zoo",
    "zoo_info",
    "zoo_names",
    "ZOO",
    "Recipe",
    "fast_default",
    "cache_dir",
    "pretrained",
    "preprocess_input",
    "decode_predictions",
    "PRETRAINED",
    "efficientnet_lite0",
    "decode_imagenet",
    "logits_model",
    "output_activation",
    "bottleneck_model",
    "label_head",
    "train_bottleneck",
]
