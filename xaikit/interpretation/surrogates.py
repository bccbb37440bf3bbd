"""Global surrogates: a simpler model that imitates the network.

- :func:`surrogate_tree`: a decision tree (scikit-learn's CART) trained to reproduce the
  network's *predicted* classes from interpretable features of the images (concept presence,
  unit activations), with its **fidelity**, the agreement with the network on held-out images
  (Craven & Shavlik, "Extracting Tree-Structured Representations of Trained Networks",
  NeurIPS 1995), as a function of the tree's depth:

  .. math:: \\mathrm{fidelity}(T) = \\frac{1}{|X|}\\sum_{x \\in X}
            [T(\\phi(x)) = \\arg\\max_k f_k(x)].

  Its root-to-leaf paths are if-then rules (:func:`extract_rules`), the decision-tree
  rule extraction of CRED (Sato & Tsukimoto, IJCNN 2001), which DeepRED (Zilke, Loza Mencía &
  Janssen, DS 2016) applies layer by layer — the survey's rule-extraction family.
- :func:`distill`: a small student network trained to regress the teacher's logits,
  :math:`\\min_\\theta \\frac{1}{n}\\sum_i \\lVert g_\\theta(x_i) - z(x_i) \\rVert^2` (Ba & Caruana,
  "Do Deep Nets Really Need to be Deep?", NeurIPS 2014, arXiv:1312.6184, Sec. 2.2), with the
  kit's training loop (seeded, progress bar, resumable checkpoints).

Introduced in lesson 14.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from xaikit.core import explained_model, predict
from xaikit.core.checks import check_array, check_images, check_int, check_number, message, rng

__all__ = ["Distilled", "Rule", "SurrogateTree", "distill", "extract_rules", "surrogate_tree"]


@dataclass(frozen=True)
class Rule:
    """IF all ``conditions`` (feature, "<=" or ">", threshold) THEN ``label``.

    ``support``: training examples reaching the leaf; ``confidence``: the share of them the
    network put in ``label``.
    """

    conditions: tuple[tuple[str, str, float], ...]
    label: str
    support: int
    confidence: float

    def __str__(self) -> str:
        body = " AND ".join(f"{f} {op} {t:.3g}" for f, op, t in self.conditions) or "always"
        return f"IF {body} THEN {self.label}  (n={self.support}, {self.confidence:.0%})"


def extract_rules(tree: DecisionTreeClassifier, feature_names: Sequence[str],
                  class_names: Sequence[str]) -> list[Rule]:
    """The if-then rules of a fitted tree, one per leaf, most supported first.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> tree = DecisionTreeClassifier(max_depth=1).fit(x, y)
    >>> [str(r) for r in extract_rules(tree, ["a"], ["low", "high"])]
    ['IF a <= 1.5 THEN low  (n=2, 100%)', 'IF a > 1.5 THEN high  (n=2, 100%)']
    """
    nodes, rules = tree.tree_, []

    def walk(node: int, path: tuple) -> None:
        if nodes.children_left[node] == -1:
            counts = nodes.value[node][0]
            label = int(np.argmax(counts))
            rules.append(Rule(path, str(class_names[int(tree.classes_[label])]),
                              int(nodes.n_node_samples[node]), float(counts[label] / counts.sum())))
            return
        name, threshold = feature_names[nodes.feature[node]], float(nodes.threshold[node])
        walk(nodes.children_left[node], (*path, (name, "<=", threshold)))
        walk(nodes.children_right[node], (*path, (name, ">", threshold)))

    walk(0, ())
    return sorted(rules, key=lambda r: -r.support)


@dataclass(frozen=True)
class SurrogateTree:
    """A surrogate tree and its fidelity.

    ``tree``: fitted at ``max_depth``; ``fidelity``: its held-out agreement with the network;
    ``depths``, ``train_fidelity``, ``held_out_fidelity``: the fidelity-vs-depth curve;
    ``rules``: :func:`extract_rules` of ``tree``; ``held_out`` (n_test,): indices of the images
    the trees were not fit on (where ``fidelity`` is measured).
    """

    tree: DecisionTreeClassifier
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    fidelity: float
    depths: np.ndarray
    train_fidelity: np.ndarray
    held_out_fidelity: np.ndarray
    rules: list[Rule]
    held_out: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """The fidelity-vs-depth curve, one row per depth."""
        return [{"depth": int(d), "train_fidelity": float(a), "held_out_fidelity": float(b)}
                for d, a, b in zip(self.depths, self.train_fidelity, self.held_out_fidelity)]


def surrogate_tree(model: Any, images: Any, features: Any, *,
                   feature_names: Sequence[str] | None = None,
                   class_names: Sequence[str] | None = None, max_depth: int = 4,
                   depths: Sequence[int] = tuple(range(1, 9)), held_out: float = 0.3,
                   seed: Any = 0, batch_size: int = 32) -> SurrogateTree:
    """A decision tree that imitates ``model``'s predictions from interpretable features.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
        The images whose predictions (arg-max of the output) the tree learns.
    features : array (N, F)
        Interpretable features of the same images (concept presence, unit activations, ...).
    feature_names, class_names : sequences of str, optional
        Names in the rules (default ``f0, f1, ...`` and the class indices).
    max_depth : int
        Depth of the returned tree and its rules.
    depths : sequence of int
        Depths of the fidelity curve.
    held_out : float
        Fraction of the images held out to measure fidelity.
    seed : int or Generator
        The split and the tree's tie-breaking.
    batch_size : int

    Returns
    -------
    SurrogateTree
    """
    images = check_images(images, model)
    features = check_array("features", features, ndim=2)
    if len(features) != len(images):
        raise ValueError(message("activation_rows", name="features", got=len(features),
                                 other="images", expected=len(images)))
    check_number("held_out", held_out, low=0.05, high=0.95)
    names = tuple(feature_names or (f"f{i}" for i in range(features.shape[1])))
    labels = predict(explained_model(model), images, batch_size=batch_size).argmax(axis=1)
    classes = tuple(class_names or (str(k) for k in range(int(labels.max()) + 1)))
    generator = rng(seed)
    order = generator.permutation(len(images))
    n_test = max(1, int(round(held_out * len(images))))
    test, train = order[:n_test], order[n_test:]
    state = int(generator.integers(2**31))

    def fit(depth: int) -> DecisionTreeClassifier:
        return DecisionTreeClassifier(max_depth=check_int("depth", depth),
                                      random_state=state).fit(features[train], labels[train])

    trees = [fit(d) for d in depths]
    agree = lambda t, part: float(np.mean(t.predict(features[part]) == labels[part]))  # noqa: E731
    tree = fit(max_depth)
    return SurrogateTree(tree, names, classes, agree(tree, test), np.asarray(depths),
                         np.array([agree(t, train) for t in trees]),
                         np.array([agree(t, test) for t in trees]),
                         extract_rules(tree, names, classes), np.sort(test))


@dataclass(frozen=True)
class Distilled:
    """A student network and how well it imitates its teacher.

    ``agreement``: share of ``val_images`` where student and teacher predict the same class;
    ``logit_r2``: the fraction of the teacher's logit variance the student reproduces there;
    ``history``: per-epoch training loss (mean squared logit error) and validation metrics.
    """

    student: Any
    agreement: float
    logit_r2: float
    history: dict[str, list[float]]


def _default_student(shape: tuple, n_classes: int, seed: int) -> Any:
    from xaikit.models import seed_everything, vgg_mini

    seed_everything(seed)
    return vgg_mini(shape, n_classes, widths=(STUDENT_WIDTH,), convs_per_block=1, stem_stride=2,
                    softmax=False, name="student")


STUDENT_WIDTH = 32
"""Channels of the default student: one convolution, then global average pooling and logits."""


def distill(teacher: Any, images: Any, *, val_images: Any, student: Any = None,
            epochs: int = 10, batch_size: int = 32, learning_rate: float = 3e-3,
            patience: int = 3, seed: int = 0, progress: bool = True,
            checkpoint: Any = None, cache: bool = False) -> Distilled:
    """Train a small student network to mimic the teacher's logits (Ba & Caruana 2014).

    Parameters
    ----------
    teacher : keras.Model
        The network to imitate; its logits (softmax stripped) are the targets.
    images : array (N, H, W, C)
        Training images (labels are not used: any unlabelled images will do).
    val_images : array (M, H, W, C)
        Held-out images for early stopping and the reported agreement.
    student : keras.Model, optional
        An uncompiled model with linear outputs (the logits); default: one 3x3 convolution of
        ``STUDENT_WIDTH`` channels (stride 2, batch norm, ReLU), global average pooling and a
        dense layer — a shallow net, as in the paper.
    epochs, batch_size, learning_rate, patience, seed, progress, checkpoint
        As :func:`xaikit.models.train` (Adam, early stopping on the validation loss, resumable
        from ``checkpoint``).
    cache : bool
        Keep the trained student in the kit's model cache (:mod:`xaikit.models.cache`, like the
        zoo), keyed by the teacher's weights, the images, the student and every argument above,
        and load it from there next time instead of training again (``checkpoint`` is then the
        cache entry's own).

    Returns
    -------
    Distilled
    """
    import keras

    from xaikit.data import ImageSet
    from xaikit.models import train
    from xaikit.models.cache import entry_key, load_or_build, load_verified

    images, val_images = check_images(images, teacher), check_images(val_images, teacher)
    head = explained_model(teacher)
    logits = predict(head, images, batch_size=batch_size)
    val_logits = predict(head, val_images, batch_size=batch_size)
    n_classes = logits.shape[1]
    names = [str(k) for k in range(n_classes)]
    student = student or _default_student(images.shape[1:], n_classes, seed)
    data = ImageSet(images, logits.argmax(axis=1), names, name="distillation")
    val = ImageSet(val_images, val_logits.argmax(axis=1), names, name="distillation-val")

    def fit(checkpoint: Any) -> tuple[Any, dict[str, Any]]:
        student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mean_squared_error")
        run = train(student, data, targets=logits.astype(np.float32), epochs=epochs,
                    batch_size=batch_size, seed=seed, val=val, patience=patience,
                    progress=progress, checkpoint=checkpoint)
        return student, {"history": run["history"]}

    if cache:
        spec = {"teacher": _digest(*teacher.get_weights()), "images": _digest(images, val_images),
                "student": [(layer.name, type(layer).__name__) for layer in student.layers],
                "student_weights": _digest(*student.get_weights()), "epochs": epochs,
                "batch_size": batch_size, "learning_rate": learning_rate, "patience": patience,
                "seed": seed}
        key = entry_key("distill", spec)
        load_or_build(key, lambda paths: fit(paths["checkpoint"]))
        student, info = load_verified(key)
    else:
        student, info = fit(checkpoint)
    mimic = predict(student, val_images, batch_size=batch_size)
    residual = np.sum((mimic - val_logits) ** 2)
    total = np.sum((val_logits - val_logits.mean(axis=0)) ** 2)
    return Distilled(student, float(np.mean(mimic.argmax(axis=1) == val_logits.argmax(axis=1))),
                     float(1 - residual / total) if total > 0 else 0.0, info["history"])


def _digest(*arrays: Any) -> str:
    """sha256 of the arrays' bytes (a cache key part)."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
