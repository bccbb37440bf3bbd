"""Robustness: does the explanation stay put when the input barely moves? (lesson 11)

Every metric here explains ``n_samples`` perturbed copies of each image with the *same* method
(so it needs a method, not maps), all copies of all images in one batched call of the method;
the perturbations are uniform in an L-infinity ball of ``radius`` around the image, drawn once
from ``seed`` and shared by every image (so a score never depends on the batch). The fragility
attack of Ghorbani et al. is in :mod:`xaikit.metrics.fragility`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from xaikit.base.checks import check_int, check_number, rng, warn
from xaikit.core import predict
from xaikit.metrics._removal import prepare
from xaikit.metrics.common import explainer
from xaikit.metrics.registry import register

__all__ = ["Stability", "avg_sensitivity", "local_lipschitz", "max_sensitivity",
           "relative_input_stability", "relative_output_stability", "stability"]

RADIUS = 0.02  # half-width of the L-infinity ball of perturbations (about 5 / 255)
N_SAMPLES = 10
EPSILON_MIN = 1e-6  # Agarwal et al.'s floor for zero entries and for the denominator
TINY = 1e-12
_METHOD = frozenset({"model", "method"})
_FAST = {"n_samples": 3, "radius": 0.005}


def _perturbed(model: keras.Model, images: Any, method: Any, targets: Any, *, radius: float,
               n_samples: int, batch_size: int, seed: Any) -> dict[str, np.ndarray]:
    """Clean and perturbed images, their maps (n, ...) and (n, S, ...), the explained classes."""
    explain = explainer(method, batch_size=batch_size, seed=seed)  # refuses precomputed maps
    prepared = prepare(model, images, method, targets, on="logits", batch_size=batch_size,
                       seed=seed)
    x = prepared.images
    samples = check_int("n_samples", n_samples)
    radius = check_number("radius", radius, low=0.0)
    deltas = rng(seed).uniform(-radius, radius, (samples, *x.shape[1:])).astype(np.float32)
    moved = (x[:, None] + deltas[None]).reshape(-1, *x.shape[1:])
    moved_maps = explain(model, moved, np.repeat(prepared.classes, samples))
    return {"x": x, "moved": moved.reshape(len(x), samples, *x.shape[1:]), "maps": prepared.maps,
            "moved_maps": moved_maps.reshape(len(x), samples, *x.shape[1:3]),
            "classes": prepared.classes, "head": prepared.model}


def _norms(values: np.ndarray) -> np.ndarray:
    """Frobenius norm over everything after the first two axes."""
    return np.sqrt((values.reshape(*values.shape[:2], -1) ** 2).sum(axis=-1))


def _sensitivity(run: dict[str, np.ndarray]) -> np.ndarray:
    """(N, S): ||Φ(x + δ) − Φ(x)|| / ||Φ(x)|| for every sample."""
    change = _norms(run["moved_maps"] - run["maps"][:, None])
    size = np.sqrt((run["maps"].reshape(len(run["maps"]), -1) ** 2).sum(axis=1))
    return change / np.maximum(size, TINY)[:, None]


@register(family="robustness", needs=_METHOD, higher_is_better=False, stochastic=True,
          fast_options=_FAST)
def max_sensitivity(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
                    radius: float = RADIUS, n_samples: int = N_SAMPLES, batch_size: int = 32,
                    seed: Any = 0) -> np.ndarray:
    """Max-sensitivity (Yeh, Hsieh, Suggala, Inouye & Ravikumar, NeurIPS 2019, arXiv:1901.09392,
    Def. 3.1), Monte-Carlo estimate relative to the map's norm.

    .. math:: \\mathrm{SENS}_{\\max}(\\Phi, f, x, r) = \\max_{\\lVert \\delta \\rVert_\\infty \\le r}
              \\frac{\\lVert \\Phi(f, x + \\delta) - \\Phi(f, x) \\rVert_2}{\\lVert \\Phi(f, x) \\rVert_2}

    The paper's definition has no denominator; dividing by :math:`\\lVert \\Phi(x) \\rVert` (as
    the authors' code and Quantus do) makes methods with different units comparable. A constant
    explanation scores 0. Lower is better.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    maps_or_method : str or callable
        The method (it is run again on the perturbed images).
    targets : None, int or N ints
        Explained class, kept fixed for the perturbed copies (None: the clean prediction).
    radius : float
        r, the L-infinity radius (default 0.02 for images in [0, 1]).
    n_samples : int
        Uniform perturbations drawn (shared by every image).
    batch_size, seed
        Passed to the method; ``seed`` also draws the perturbations.

    Returns
    -------
    np.ndarray
        float64 (N,).

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> def constant(model, images, targets=None, **options):
    ...     return np.ones(images.shape[:3])
    >>> max_sensitivity(model, np.zeros((2, 4, 4, 1)), constant).tolist()
    [0.0, 0.0]
    """
    return _sensitivity(_perturbed(model, images, maps_or_method, targets, radius=radius,
                                   n_samples=n_samples, batch_size=batch_size, seed=seed)
                        ).max(axis=1)


@register(family="robustness", needs=_METHOD, higher_is_better=False, stochastic=True,
          fast_options=_FAST)
def avg_sensitivity(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
                    radius: float = RADIUS, n_samples: int = N_SAMPLES, batch_size: int = 32,
                    seed: Any = 0) -> np.ndarray:
    """Average sensitivity (Yeh et al., NeurIPS 2019, arXiv:1901.09392, Sec. 3): the mean instead
    of the maximum of :func:`max_sensitivity`'s ratio over perturbations uniform in the ball.

    .. math:: \\mathrm{SENS}_{\\mathrm{avg}} = \\mathbb{E}_{\\delta \\sim U(-r, r)}
              \\frac{\\lVert \\Phi(x + \\delta) - \\Phi(x) \\rVert_2}{\\lVert \\Phi(x) \\rVert_2}

    Parameters and returns as :func:`max_sensitivity`.
    """
    return _sensitivity(_perturbed(model, images, maps_or_method, targets, radius=radius,
                                   n_samples=n_samples, batch_size=batch_size, seed=seed)
                        ).mean(axis=1)


@register(family="robustness", needs=_METHOD, higher_is_better=False, stochastic=True,
          fast_options=_FAST)
def local_lipschitz(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
                    radius: float = RADIUS, n_samples: int = N_SAMPLES, batch_size: int = 32,
                    seed: Any = 0) -> np.ndarray:
    """Local Lipschitz estimate (Alvarez-Melis & Jaakkola, ICML-WHI 2018, arXiv:1806.08049, Eq. 3).

    .. math:: \\hat L(x) = \\max_{x' \\in B_r(x)}
              \\frac{\\lVert \\Phi(x) - \\Phi(x') \\rVert_2}{\\lVert x - x' \\rVert_2}

    estimated by the best of ``n_samples`` uniform draws in the L-infinity ball of ``radius``
    (the paper's :math:`\\epsilon`; it searches the ball with Bayesian optimisation). Lower is
    better. Parameters and returns as :func:`max_sensitivity`.
    """
    return _lipschitz(_perturbed(model, images, maps_or_method, targets, radius=radius,
                                 n_samples=n_samples, batch_size=batch_size, seed=seed))


def _lipschitz(run: dict[str, np.ndarray]) -> np.ndarray:
    change = _norms(run["moved_maps"] - run["maps"][:, None])
    step = _norms(run["moved"] - run["x"][:, None])
    return (change / np.maximum(step, TINY)).max(axis=1)


def _relative(now: np.ndarray, before: np.ndarray, eps: float) -> np.ndarray:
    """||(before − now) / before||_2 per (image, sample), zero entries of ``before`` set to eps."""
    safe = np.where(before == 0, eps, before)
    return _norms((before - now) / safe)


def _stability(run: dict[str, np.ndarray], against: str, eps: float,
               batch_size: int) -> np.ndarray:
    """Agarwal et al.'s relative stability, over the samples that keep the predicted label."""
    eps = check_number("eps", eps, low=0.0)
    n, samples = run["moved"].shape[:2]
    explained = _relative(run["moved_maps"], run["maps"][:, None], eps)
    logits = predict(run["head"], run["x"], batch_size=batch_size)
    moved_logits = predict(run["head"], run["moved"].reshape(-1, *run["x"].shape[1:]),
                           batch_size=batch_size).reshape(n, samples, -1)
    if against == "input":
        change = _relative(run["moved"], run["x"][:, None], eps)
    else:
        change = _relative(moved_logits, logits[:, None], eps)
    ratio = explained / np.maximum(change, eps)
    kept = moved_logits.argmax(axis=-1) == logits.argmax(axis=-1)[:, None]
    none = ~kept.any(axis=1)
    if none.any():
        warn(f"every perturbation changed the predicted label of image(s) "
             f"{np.flatnonzero(none).tolist()}: their relative stability is NaN; use a smaller "
             "radius")
    return np.where(none, np.nan, np.where(kept, ratio, -np.inf).max(axis=1))


@register(family="robustness", needs=_METHOD, higher_is_better=False, stochastic=True,
          fast_options=_FAST)
def relative_input_stability(model: keras.Model, images: Any, maps_or_method: Any,
                             targets: Any = None, *, radius: float = RADIUS,
                             n_samples: int = N_SAMPLES, eps: float = EPSILON_MIN,
                             batch_size: int = 32, seed: Any = 0) -> np.ndarray:
    """Relative input stability (Agarwal et al., NeurIPS 2022, arXiv:2203.06877, Eq. 2).

    .. math:: \\mathrm{RIS}(x) = \\max_{x' :\\ \\hat y(x') = \\hat y(x)}
              \\frac{\\lVert (e_x - e_{x'}) / e_x \\rVert_2}
                   {\\max\\big(\\lVert (x - x') / x \\rVert_2,\\ \\epsilon_{\\min}\\big)}

    over ``n_samples`` uniform perturbations in the L-infinity ball of ``radius`` that keep the
    predicted label (others are skipped; an image where none does scores NaN). Divisions are
    element-wise; zero entries of :math:`e_x` or :math:`x` are replaced by
    :math:`\\epsilon_{\\min}` (``eps``), as in Quantus. Lower is better.

    Parameters
    ----------
    eps : float
        :math:`\\epsilon_{\\min}` (default 1e-6).
    model, images, maps_or_method, targets, radius, n_samples, batch_size, seed
        As :func:`max_sensitivity`.

    Returns
    -------
    np.ndarray
        float64 (N,).
    """
    run = _perturbed(model, images, maps_or_method, targets, radius=radius, n_samples=n_samples,
                     batch_size=batch_size, seed=seed)
    return _stability(run, "input", eps, batch_size)


@register(family="robustness", needs=_METHOD, higher_is_better=False, stochastic=True,
          fast_options=_FAST)
def relative_output_stability(model: keras.Model, images: Any, maps_or_method: Any,
                              targets: Any = None, *, radius: float = RADIUS,
                              n_samples: int = N_SAMPLES, eps: float = EPSILON_MIN,
                              batch_size: int = 32, seed: Any = 0) -> np.ndarray:
    """Relative output stability (Agarwal et al., NeurIPS 2022, arXiv:2203.06877, Eq. 5): as
    :func:`relative_input_stability` with the change of the logits :math:`h` in the denominator,

    .. math:: \\mathrm{ROS}(x) = \\max_{x'}
              \\frac{\\lVert (e_x - e_{x'}) / e_x \\rVert_2}
                   {\\max\\big(\\lVert (h(x) - h(x')) / h(x) \\rVert_2,\\ \\epsilon_{\\min}\\big)}.

    Parameters and returns as :func:`relative_input_stability`.
    """
    run = _perturbed(model, images, maps_or_method, targets, radius=radius, n_samples=n_samples,
                     batch_size=batch_size, seed=seed)
    return _stability(run, "output", eps, batch_size)


@dataclass(frozen=True)
class Stability:
    """The five measures of this module from one set of perturbations: ``scores`` maps
    "max_sensitivity", "avg_sensitivity", "local_lipschitz", "relative_input_stability" and
    "relative_output_stability" to per-image (N,) scores (lower is more robust)."""

    scores: dict[str, np.ndarray]

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per image with the five measures."""
        n = len(next(iter(self.scores.values())))
        return [{"image": i, **{k: float(v[i]) for k, v in self.scores.items()}}
                for i in range(n)]


@register(family="robustness", needs=_METHOD, higher_is_better=False, stochastic=True,
          returns="table", fast_options=_FAST)
def stability(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
              radius: float = RADIUS, n_samples: int = N_SAMPLES, eps: float = EPSILON_MIN,
              batch_size: int = 32, seed: Any = 0) -> Stability:
    """All the measures of this module at the cost of one: max- and average sensitivity, the
    local Lipschitz estimate and relative input / output stability, computed from the same
    ``n_samples`` perturbations and their maps (each method runs once on all copies), so their
    values equal those of the separate functions with the same arguments.

    Parameters and definitions as :func:`max_sensitivity` and :func:`relative_input_stability`.

    Returns
    -------
    Stability
    """
    run = _perturbed(model, images, maps_or_method, targets, radius=radius, n_samples=n_samples,
                     batch_size=batch_size, seed=seed)
    ratios = _sensitivity(run)
    return Stability({"max_sensitivity": ratios.max(axis=1),
                      "avg_sensitivity": ratios.mean(axis=1),
                      "local_lipschitz": _lipschitz(run),
                      "relative_input_stability": _stability(run, "input", eps, batch_size),
                      "relative_output_stability": _stability(run, "output", eps, batch_size)})
