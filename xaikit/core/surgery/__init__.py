"""Model surgery, done once: every read or rewrite of a model's layer graph lives here.

Rewrites **share the user's layers and weights** (nothing is copied, the user's model is never
modified), so later training of the model is seen by the rewritten models.

- :mod:`.layers`: ``iter_layers``, ``find_layer`` (by name, index or the last 4-D layer, nested
  models searched), ``spatial_layer``, ``spatial_layer_names``, ``gap_dense`` (the conv -> GAP ->
  Dense head of CAM), ``is_graph_model``, ``require_graph`` (a clear TypeError for subclassed
  models);
- :mod:`.heads`: ``output_activation``, ``logits_model`` (the final softmax/sigmoid stripped),
  ``select_output`` (one output of a multi-output model), ``explained_model`` (the (N, K) output
  a method explains, ``on="logits" | "probabilities"``);
- :mod:`.rewrite`: ``activation_model`` (``x -> [A, explained output]``),
  ``relu_override_model`` (deconvnet / guided-backprop rules at every ReLU and ReLU6);
- :mod:`.chain`: ``layer_chain`` (the linear chain of steps LRP and DeepLIFT walk backwards).
"""

from xaikit.core.surgery.chain import SUPPORTED_LAYERS, Step, layer_chain
from xaikit.core.surgery.heads import (
    explained_model,
    logits_model,
    output_activation,
    select_output,
)
from xaikit.core.surgery.layers import (
    find_layer,
    gap_dense,
    is_graph_model,
    iter_layers,
    output_rank,
    require_graph,
    spatial_layer,
    spatial_layer_names,
)
from xaikit.core.surgery.rewrite import (
    RECTIFIERS,
    RELU_RULES,
    activation_model,
    rectifier_of,
    relu_override_model,
)

__all__ = [
    "RECTIFIERS",
    "RELU_RULES",
    "SUPPORTED_LAYERS",
    "Step",
    "activation_model",
    "explained_model",
    "find_layer",
    "gap_dense",
    "is_graph_model",
    "iter_layers",
    "layer_chain",
    "logits_model",
    "output_activation",
    "output_rank",
    "rectifier_of",
    "relu_override_model",
    "require_graph",
    "select_output",
    "spatial_layer",
    "spatial_layer_names",
]
