"""ProtoPNet end to end (Chen et al., NeurIPS 2019): add-on layers and the three training stages.

Chen, Li, Tao, Barnett, Su & Rudin, "This Looks Like That: Deep Learning for Interpretable Image
Recognition", NeurIPS 2019 (arXiv:1806.10574), Sec. 2. The network is a pretrained backbone
(here the zoo's an8flower ``vgg_mini`` up to ``last_conv``), two 1x1 add-on convolutions (ReLU,
then sigmoid: latent patches in [0, 1]^D), the prototype layer (each prototype's log-activation
similarity map, :func:`xaikit.models.prototypes.log_similarity`), a global max pool (each
prototype's best similarity, "how much the image looks like that") and a last layer without
bias to the class logits. Training (Sec. 2.2):

1. *stochastic gradient descent of the layers before the last one*, with the last layer fixed at
   1 (own class) / -0.5 (other classes), on the cross-entropy plus the cluster and separation
   costs — first a warm-up with the backbone frozen (add-on layers and prototypes only), then
   jointly with the backbone (at a tenth of the learning rate);
2. the *push*: every prototype is replaced by the nearest latent patch of a training image of
   its class (:func:`xaikit.models.prototypes.push`);
3. the *last layer* alone, a convex problem with an L1 penalty on the wrong-class connections
   (:func:`xaikit.models.prototypes.optimise_last_layer`).

The trained network is one Keras model (layers ``"add_on_2"``: the latents, ``"prototypes"``,
``"prototype_scores"``, ``"last_layer"``: logits); :func:`prototype_head` reads it back as a
:class:`~xaikit.models.prototypes.PrototypeHead` for the analysis in
:mod:`xaikit.interpretation.prototypes`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from xaikit.core.batching import predict
from xaikit.models import cache
from xaikit.models.prototypes import (
    CLUSTER,
    EPSILON,
    LAST_LAYER_L1,
    SEPARATION,
    PrototypeHead,
    initial_last_layer,
    latents,
    optimise_last_layer,
    push,
)
from xaikit.models.training import run_steps, seed_everything
from xaikit.models.zoo import ZOO, fast_default

__all__ = ["ADD_ON_DEPTH", "PrototypeLayer", "fit_protopnet", "protopnet", "prototype_head",
           "train_protopnet"]

ZOO_ENTRY = "an8flower-single-6c"
ADD_ON_DEPTH = 64  # depth D of the add-on layers and the prototypes
LATENT_LAYER = "add_on_2"
BACKBONE_RATE = 0.1  # the backbone's learning rate relative to the add-on layers' (paper: 1e-4 vs 3e-3)
PER_CLASS = (2, 5)  # prototypes per class, (fast, full) recipes (the paper: 10)
WARM_EPOCHS = (3, 5)  # stage-1 warm-up epochs (frozen backbone; its features computed once)
JOINT_EPOCHS = (1, 2)  # stage-1 joint epochs (backbone trained too)


@keras.saving.register_keras_serializable(package="xaikit")
class PrototypeLayer(keras.layers.Layer):
    """Prototype vectors and their log-activation similarity maps, (N, h, w, D) -> (N, h, w, P).

    Weights: ``prototypes`` (P, D), trainable, initialised uniform in [0, 1] like the paper's;
    ``source`` (P, 3), not trainable: image index, row and column of each prototype's training
    patch after the push (-1 before it).
    """

    def __init__(self, classes: Any, epsilon: float = EPSILON, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classes = [int(c) for c in classes]
        self.epsilon = float(epsilon)

    def build(self, input_shape: Any) -> None:
        shape = (len(self.classes), int(input_shape[-1]))
        self.prototypes = self.add_weight(name="prototypes", shape=shape,
                                          initializer=keras.initializers.RandomUniform(0.0, 1.0))
        self.source = self.add_weight(name="source", shape=(len(self.classes), 3),
                                      initializer=keras.initializers.Constant(-1.0),
                                      trainable=False)

    def distances(self, z: Any) -> Any:
        """Squared distances of every patch to every prototype, (N, h, w, P)."""
        ops = keras.ops
        p = self.prototypes
        cross = ops.einsum("nhwd,pd->nhwp", z, p)
        return ops.maximum(ops.sum(z**2, axis=-1, keepdims=True) - 2.0 * cross
                           + ops.sum(p**2, axis=-1), 0.0)

    def call(self, z: Any) -> Any:
        d = self.distances(z)
        return keras.ops.log((d + 1.0) / (d + self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "classes": self.classes, "epsilon": self.epsilon}


def protopnet(backbone: keras.Model, n_classes: int, *, per_class: int = 2,
              depth: int = ADD_ON_DEPTH, layer: str = "last_conv",
              name: str = "protopnet") -> keras.Model:
    """An untrained ProtoPNet on ``backbone``'s ``layer`` (its layers are shared, not copied).

    Returns
    -------
    keras.Model
        Image -> class logits (N, n_classes); the last layer starts at 1 / -0.5.
    """
    classes = np.repeat(np.arange(n_classes), per_class)
    z = backbone.get_layer(layer).output
    a = keras.layers.Conv2D(depth, 1, activation="relu", name="add_on_1")(z)
    a = keras.layers.Conv2D(depth, 1, activation="sigmoid", name=LATENT_LAYER)(a)
    similarity = PrototypeLayer(classes, name="prototypes")(a)
    scores = keras.layers.GlobalMaxPooling2D(name="prototype_scores")(similarity)
    logits = keras.layers.Dense(n_classes, use_bias=False, name="last_layer")(scores)
    model = keras.Model(backbone.input, logits, name=name)
    model.get_layer("last_layer").set_weights([initial_last_layer(classes, n_classes)
                                               .astype(np.float32)])
    return model


def prototype_head(model: keras.Model) -> PrototypeHead:
    """The prototypes, their classes, last layer and source patches of a trained ProtoPNet."""
    layer = model.get_layer("prototypes")
    return PrototypeHead(prototypes=np.asarray(layer.prototypes, np.float64),
                         classes=np.asarray(layer.classes),
                         last_layer=np.asarray(model.get_layer("last_layer").kernel, np.float64),
                         source=np.asarray(layer.source).astype(np.int64))


def fit_protopnet(model: keras.Model, images: np.ndarray, labels: np.ndarray, *,
                  warm_epochs: int, joint_epochs: int, batch_size: int, learning_rate: float,
                  l1: float = LAST_LAYER_L1, seed: int = 0, progress: bool = True,
                  backbone_layer: str = "last_conv", checkpoint: Any = None) -> dict[str, Any]:
    """Train a :func:`protopnet` in place: stage 1 (warm-up, joint), push, stage 3.

    Stage 1 minimises (Chen et al., Sec. 2.2, stage 1)

    .. math:: \\mathrm{CE}(h(g_p(z)), y) + \\lambda_1 \\frac1n\\sum_i \\min_{j: p_j \\in P_{y_i}}
              \\min_{\\tilde z \\in z_i} \\lVert \\tilde z - p_j\\rVert^2 - \\lambda_2
              \\frac1n\\sum_i \\min_{j: p_j \\notin P_{y_i}} \\min_{\\tilde z\\in z_i}
              \\lVert\\tilde z - p_j\\rVert^2

    (cross-entropy, cluster and separation costs, :math:`\\lambda_1 = 0.8, \\lambda_2 = 0.08`)
    with Adam, the mini-batches shuffled by ``default_rng([seed, epoch])``; the warm-up reads the
    frozen backbone's features, computed once. With a ``checkpoint`` path, stage 1 saves the
    weights and both optimizers' state after every epoch and resumes from them
    (:func:`xaikit.models.training.run_steps`). Returns the training accuracy after each stage
    and the share of wrong-class connections stage 3 set to zero.
    """
    import tensorflow as tf

    layer, last = model.get_layer("prototypes"), model.get_layer("last_layer")
    add_on = [model.get_layer("add_on_1"), model.get_layer(LATENT_LAYER)]
    backbone = keras.Model(model.input, model.get_layer(backbone_layer).output)
    classes = np.asarray(layer.classes)
    n_classes = int(last.kernel.shape[-1])
    own = tf.constant(classes[None, :] == np.arange(n_classes)[:, None])  # (n_classes, P)
    head_vars = [w for lay in add_on for w in lay.trainable_variables] + [layer.prototypes]
    optimizers = (keras.optimizers.Adam(learning_rate),
                  keras.optimizers.Adam(learning_rate * BACKBONE_RATE))
    optimizers[0].build(head_vars)
    optimizers[1].build(backbone.trainable_variables)

    def loss_of(z: Any, y: Any) -> Any:
        nearest = tf.reduce_min(layer.distances(add_on[1](add_on[0](z))), axis=(1, 2))  # (n, P)
        scores = tf.math.log((nearest + 1.0) / (nearest + EPSILON))
        mine = tf.gather(own, y)
        big = tf.reduce_max(nearest)
        cluster = tf.reduce_min(tf.where(mine, nearest, big), axis=1)
        separation = tf.reduce_min(tf.where(mine, big, nearest), axis=1)
        cross_entropy = tf.keras.losses.sparse_categorical_crossentropy(
            y, tf.matmul(scores, last.kernel), from_logits=True)
        return (tf.reduce_mean(cross_entropy) + CLUSTER * tf.reduce_mean(cluster)
                - SEPARATION * tf.reduce_mean(separation))

    @tf.function(reduce_retracing=True)
    def warm_step(z: Any, y: Any) -> None:
        with tf.GradientTape() as tape:
            loss = loss_of(z, y)
        optimizers[0].apply_gradients(zip(tape.gradient(loss, head_vars), head_vars))

    @tf.function(reduce_retracing=True)
    def joint_step(x: Any, y: Any) -> None:
        variables = head_vars + backbone.trainable_variables
        with tf.GradientTape() as tape:
            loss = loss_of(backbone(x, training=False), y)
        grads = tape.gradient(loss, variables)
        optimizers[0].apply_gradients(zip(grads[:len(head_vars)], head_vars))
        optimizers[1].apply_gradients(zip(grads[len(head_vars):], backbone.trainable_variables))

    features = np.asarray(predict(backbone, images, batch_size=256), np.float32)
    run_steps(lambda epoch: (warm_step, (features, labels)) if epoch < warm_epochs
              else (joint_step, (images, labels)), len(images), epochs=warm_epochs + joint_epochs,
              batch_size=batch_size, seed=seed, desc="train protopnet", progress=progress,
              variables=[*model.weights, *optimizers[0].variables, *optimizers[1].variables],
              checkpoint=checkpoint)
    info: dict[str, Any] = {"train_accuracy_stage1": _accuracy(model, images, labels)}
    train_latents = latents(model, images, layer=LATENT_LAYER)
    pushed, where = push(np.asarray(layer.prototypes), classes, train_latents, labels)
    layer.prototypes.assign(pushed.astype(np.float32))
    layer.source.assign(where.astype(np.float32))
    info["train_accuracy_pushed"] = _accuracy(model, images, labels)
    head = prototype_head(model)
    weights = optimise_last_layer(head.scores(train_latents), labels, classes, n_classes, l1=l1)
    last.kernel.assign(weights.astype(np.float32))
    wrong = classes[:, None] != np.arange(n_classes)
    info |= {"train_accuracy_last_layer": _accuracy(model, images, labels),
             "wrong_class_zero_share": float(np.mean(weights[wrong] == 0.0))}
    return info


def _accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    logits = predict(model, images, batch_size=256)
    return round(float(np.mean(logits.argmax(axis=1) == labels)), 4)


def train_protopnet(*, fast: bool | None = None, seed: int = 0, progress: bool = True
                    ) -> keras.Model:
    """A ProtoPNet of an8flower single-6c on the zoo model's backbone, trained and cached.

    The backbone starts from the trained zoo model (:func:`xaikit.models.zoo`, trained first if
    it is not cached), as the paper's starts from ImageNet weights; batch size and learning rate
    are the zoo recipe's, the epochs ``WARM_EPOCHS`` and ``JOINT_EPOCHS``, the prototypes
    ``PER_CLASS`` per class; then the push and the last-layer stage (:func:`fit_protopnet`).

    Returns
    -------
    keras.Model
        A fresh copy from the cache; read it with :func:`prototype_head`.
    """
    from xaikit.data import load
    from xaikit.data import recipe as data_recipe
    from xaikit.models.zoo import zoo

    fast = fast_default(fast)
    used, pick = ZOO[ZOO_ENTRY].as_dict(fast), 0 if fast else 1
    spec = {"backbone": used, "data": data_recipe(ZOO_ENTRY, fast), "seed": seed,
            "per_class": PER_CLASS[pick], "depth": ADD_ON_DEPTH, "warm": WARM_EPOCHS[pick],
            "joint": JOINT_EPOCHS[pick], "backbone_rate": BACKBONE_RATE, "l1": LAST_LAYER_L1,
            "last_layer": "fista"}
    key = cache.entry_key(f"protopnet{'-fast' if fast else ''}", spec)

    def build(paths: dict[str, Any]) -> tuple[keras.Model, dict[str, Any]]:
        backbone = zoo(ZOO_ENTRY, fast=fast, progress=progress)
        train_set = load(ZOO_ENTRY, split="train", fast=fast)
        seed_everything(seed)
        model = protopnet(backbone, len(train_set.class_names), per_class=PER_CLASS[pick])
        info = fit_protopnet(model, train_set.images, np.asarray(train_set.labels),
                             warm_epochs=WARM_EPOCHS[pick], joint_epochs=JOINT_EPOCHS[pick],
                             batch_size=used["batch_size"], learning_rate=used["learning_rate"],
                             seed=seed, progress=progress, checkpoint=paths["checkpoint"])
        return model, {"name": "protopnet", "fast": fast, "spec": spec, **info}

    return cache.load_or_build(key, build)
