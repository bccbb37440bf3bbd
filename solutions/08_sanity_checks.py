"""Solutions to the exercises of lesson 08, "Sanity checks" (instructor side)."""

import keras
import numpy as np
from scipy import stats


def cascade_maps(model, images, targets, layer_names, explain, reinitialise):
    """Maps of one method after each step of a cascading randomisation (Adebayo et al. 2018).

    Parameters
    ----------
    model : keras.Model
        The trained model; it must not change.
    images : np.ndarray
        (N, H, W, C) images.
    targets : np.ndarray
        (N,) classes to explain at every step.
    layer_names : list of str
        The layers to re-initialise, in this order, each step keeping the earlier ones random.
    explain : callable
        ``explain(model, images, targets) -> (N, H, W)`` maps.
    reinitialise : callable
        ``reinitialise(layer)`` redraws a layer's weights in place.

    Returns
    -------
    np.ndarray
        (len(layer_names) + 1, N, H, W): the trained model's maps, then each step's.
    """
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    maps = [explain(twin, images, targets)]
    for name in layer_names:
        reinitialise(twin.get_layer(name))
        maps.append(explain(twin, images, targets))
    return np.stack(maps)


def spearman_abs_similarity(maps_a, maps_b):
    """Spearman rank correlation of |maps_a| and |maps_b|, pair by pair; 0 for a constant map.

    Parameters
    ----------
    maps_a, maps_b : np.ndarray
        (N, H, W) maps.

    Returns
    -------
    np.ndarray
        (N,) correlations.
    """
    a = stats.rankdata(np.abs(maps_a).reshape(len(maps_a), -1), axis=1)
    b = stats.rankdata(np.abs(maps_b).reshape(len(maps_b), -1), axis=1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    scale = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    products = (a * b).sum(axis=1)
    return np.divide(products, scale, out=np.zeros_like(products), where=scale > 0)


def compensated_bias(kernel, bias, shift):
    """The bias b - W m that makes the layer ignore a constant input shift m (Kindermans et al.).

    Parameters
    ----------
    kernel : np.ndarray
        (D, K) Dense kernel or (kh, kw, C, K) kernel of a ``padding="valid"`` Conv2D.
    bias : np.ndarray
        (K,) bias.
    shift : float or np.ndarray
        The constant m: a number, (D,) for Dense or (C,) for a convolution.

    Returns
    -------
    np.ndarray
        (K,) the compensating bias.
    """
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim == 2:
        return bias - np.broadcast_to(shift, kernel.shape[:1]) @ kernel
    return bias - np.einsum("hwck,c->k", kernel, np.broadcast_to(shift, kernel.shape[2:3]))
