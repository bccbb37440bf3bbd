# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 7. Relevance propagation: LRP and DeepLIFT
#
# Perturbation methods (lesson 6) pay hundreds of forward passes for one map. Layer-wise
# relevance propagation (LRP; Bach, Binder, Montavon, Klauschen, Müller & Samek, PLoS ONE 2015)
# and DeepLIFT (Shrikumar, Greenside & Kundaje, ICML 2017, arXiv:1704.02685) pay one forward and
# one backward pass: they open the network and redistribute the output score layer by layer,
# down to the pixels, under a *conservation* rule: what a layer receives, it passes on. The
# survey of Zhang et al. (2019) calls them efficient and notes that LRP "is equivalent to
# DeepLIFT with all reference activations set to zero".
#
# **You will learn** the LRP rules (ε, γ, αβ / z⁺, z^B) and where each is used, how to check
# conservation on numbers, why LRP-0 is gradient × input on a ReLU network without biases, and
# DeepLIFT's rescale rule with its *summation-to-delta* property.

# %%
import matplotlib.pyplot as plt
import numpy as np

from xaikit import viz
from xaikit.attribution import deep_taylor, deeplift, gradient, lrp
from xaikit.data import load
from xaikit.exercises import check
from xaikit.models import zoo
from xaikit.report import exact, fast_mode, figure, result, table

import keras

FAST = fast_mode()

# %% [markdown]
# ## 7.1 Redistributing a score
#
# Take a layer $z_j = \sum_i a_i w_{ij} + b_j$ whose outputs carry relevance $R_j$. The basic
# rule (LRP-0) gives each input its share of each output, in proportion to its contribution:
#
# $$R_i = \sum_j \frac{a_i w_{ij}}{z_j} R_j .$$
#
# Summing over $i$ gives $\sum_i R_i = \sum_j R_j (z_j - b_j)/z_j$: relevance is conserved
# exactly when there is no bias. Three refinements (Montavon et al. 2019) make it usable:
#
# * **ε**: divide by $z_j + \epsilon\,\mathrm{sign}(z_j)$, absorbing weak, noisy contributions;
# * **γ**: use $w_{ij} + \gamma w_{ij}^+$, favouring positive contributions (lower layers);
# * **αβ / z⁺**: split positive and negative contributions,
#   $R_i = \sum_j \big(\alpha \frac{(a_i w_{ij})^+}{z_j^+} - \beta \frac{(a_i w_{ij})^-}{z_j^-}\big) R_j$;
#   α = 1, β = 0 is the z⁺ rule of deep Taylor decomposition (Montavon et al. 2017);
# * **z^B** for the pixel layer, whose inputs live in a box $[l, h]$:
#   $z_{ij} = a_i w_{ij} - l_i w_{ij}^+ - h_i w_{ij}^-$.
#
# Every rule is a ratio $s_j = R_j / z_j$ sent back through the layer's weights and multiplied by
# the input, i.e. a gradient: $R = a \odot \partial_a [z(a) \cdot \mathrm{stop}(s)]$. The kit
# computes each layer with this *gradient trick* in one `tf.GradientTape` call. On numbers, a
# dense layer with two inputs:

# %%
a, w, b = np.array([1.0, 2.0]), np.array([[1.0], [1.0]]), np.array([0.0])
R_out = np.array([3.0])
z = a @ w + b
R_in = a * ((R_out / z) @ w.T)
print("z =", z, " R_in =", R_in, " sum =", R_in.sum(), "(conserved:", R_out.sum(), ")")

# %% [markdown]
# ## 7.2 Conservation and LRP-0 = gradient × input, on numbers
#
# On a ReLU network without biases, each layer is positively homogeneous, so
# $f(x) = \sum_i x_i \partial f/\partial x_i$ and LRP-0 returns exactly gradient × input, with
# $\sum_i R_i = f(x)$. We check both on a small random bias-free CNN (conv, max-pool, conv,
# global average pooling, dense).

# %%
keras.utils.set_random_seed(0)
inputs = keras.Input((32, 32, 3))
x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", use_bias=False)(inputs)
x = keras.layers.MaxPooling2D()(x)
x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", use_bias=False)(x)
x = keras.layers.GlobalAveragePooling2D()(x)
bias_free = keras.Model(inputs, keras.layers.Dense(4, use_bias=False)(x))
probe = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)

details = lrp(bias_free, probe, 0, epsilon=0.0, return_details=True)
conservation = float(np.abs(details.total - details.score).max())
grad_x_input = gradient(bias_free, probe, 0) * probe
lrp0_gap = float(np.abs(details.relevance - grad_x_input).max() / np.abs(grad_x_input).max())
print(f"max |sum R - f(x)| = {conservation:.2e}   (logits up to {np.abs(details.score).max():.3f})")
print(f"max |LRP-0 - gradient x input| / max |gradient x input| = {lrp0_gap:.2e}")
result("lrp_conservation_gap", conservation, paper="0 (conservation)", check=exact(0.0, atol=1e-4))
result("lrp0_vs_gradient_x_input", lrp0_gap, paper="identical on bias-free ReLU nets", check=exact(0.0, atol=1e-4))

# %% [markdown]
# ## 7.3 The rules on a trained CNN
#
# The zoo model of lessons 3 and 6 has biases and batch normalisation (folded into the
# preceding convolution). Conservation now only holds up to what the biases absorb; the kit
# reports that share (`return_details=True`). We compare LRP-ε, LRP-γ on all layers, α1β0 and
# the composite that Montavon et al. (2019) recommend — ε on the dense layer, γ in the
# convolutions, z^B at the pixels — with deep Taylor (z⁺ + z^B).

# %%
test = load("shapes", split="test")
model = zoo("shapes")
names = test.class_names
n_show = 3 if FAST else 5
index = np.array([np.flatnonzero(test.labels == c)[0] for c in range(len(names))])[:n_show]
images, labels = test.images[index], test.labels[index]

composite = {0: "zb", -1: "epsilon"}
rules = {
    "LRP-ε (ε=0.01)": lrp(model, images, labels, epsilon=0.01),
    "LRP-γ (γ=0.25)": lrp(model, images, labels, rule="gamma", gamma=0.25),
    "LRP-α1β0": lrp(model, images, labels, rule="alpha_beta"),
    "composite": lrp(model, images, labels, rule="gamma", rules=composite),
    "deep Taylor": deep_taylor(model, images, labels),
}
fig = viz.grid(images, rules, signed=tuple(rules), image_titles=[names[c] for c in labels])
figure(fig, "lrp_rules", caption="LRP rules on the shapes CNN (red: positive relevance)")

rows = []
for name, options in [("LRP-0", {"epsilon": 0.0}), ("LRP-ε (ε=0.01)", {"epsilon": 0.01}),
                      ("LRP-γ", {"rule": "gamma"}), ("LRP-α1β0", {"rule": "alpha_beta"}),
                      ("composite", {"rule": "gamma", "rules": composite})]:
    d = lrp(model, images, labels, return_details=True, **options)
    share = np.abs(d.absorbed) / np.abs(d.score)
    rows.append({"rule": name, "mean logit": f"{d.score.mean():.3f}",
                 "mean sum of relevance": f"{d.total.mean():.3f}",
                 "absorbed by biases / ε": f"{share.mean():.1%}"})
table(rows, "lrp_conservation_trained",
      caption="Conservation on the trained CNN (biases and folded batch norm absorb a share)")

# %% [markdown]
# ## 7.4 DeepLIFT: differences from a reference
#
# DeepLIFT explains the *difference* $\Delta t = t(x) - t(x^0)$ from a reference input $x^0$.
# Multipliers $m = \Delta y / \Delta x$ are chained backwards like gradients (its eq. 3); for a
# ReLU the **rescale rule** uses the secant slope $\big(\mathrm{relu}(z) - \mathrm{relu}(z^0)\big)
# / (z - z^0)$ instead of the tangent. Contributions $C_i = m_i\,\Delta x_i$ then satisfy
# **summation-to-delta** (eq. 1), $\sum_i C_i = t(x) - t(x^0)$, whatever the biases.

# %%
for name, baseline in [("black", 0.0), ("grey", 0.5)]:
    d = deeplift(model, images, labels, baseline=baseline, return_details=True)
    gap = float(np.abs(d.absorbed).max())
    print(f"baseline {name}: Δt = {np.round(d.score, 3)}, max |ΣC - Δt| = {gap:.2e}")
    result(f"deeplift_summation_gap_{name}", gap, paper="0 (summation-to-delta)", check=exact(0.0, atol=1e-3 * max(1.0, float(np.abs(d.score).max()))))

maps = {"gradient × input": (gradient(model, images, labels) * images).sum(axis=-1),
        "LRP-ε": rules["LRP-ε (ε=0.01)"],
        "DeepLIFT (black)": deeplift(model, images, labels, baseline=0.0),
        "DeepLIFT (grey)": deeplift(model, images, labels, baseline=0.5)}
fig = viz.grid(images, maps, signed=tuple(maps), image_titles=[names[c] for c in labels])
figure(fig, "deeplift_vs_lrp", caption="Gradient × input, LRP-ε and DeepLIFT (rescale) with two references")

# %% [markdown]
# > **Paper vs here.** Bach et al. (2015) explain Bag-of-Words and ImageNet/MNIST networks; Montavon
# > et al. (2017, 2019) recommend the composite (z^B at the pixels, γ or z⁺ in the
# > convolutions, ε above) for VGG-16. Shrikumar et al. (2017) evaluate DeepLIFT on MNIST and
# > genomics models with rescale and RevealCancel rules. Here: a 3-block CNN on 64-pixel shapes,
# > the rescale rule only, max-pooling handled with DeepLIFT's "scaled gradient" (so
# > summation-to-delta stays exact), and batch normalisation folded into the preceding
# > convolution. The properties the papers state are checked on numbers: conservation and
# > LRP-0 = gradient × input on a bias-free ReLU net (7.2), the share absorbed by biases on a
# > trained net (7.3), and summation-to-delta (7.4).
#
# ## Summary
#
# * LRP redistributes the output layer by layer; each rule is one gradient of a modified layer.
# * Conservation is exact without biases; with them, the absorbed share must be reported.
# * LRP-0 is gradient × input on bias-free ReLU networks; ε, γ and z⁺ trade faithfulness for
#   readable maps.
# * DeepLIFT's contributions add up to the change of the output from the reference.
#
# ## Exercises
#
# *How your code is graded:* the grader runs your imports, your functions and the module-level
# assignments they use — not the rest of the notebook — on the public checks below and on
# hidden cases of the same kinds, and compares the outputs with a reference solution.
#
# 1. Implement the LRP-ε rule for a dense layer: `lrp_epsilon_dense(a, weights, bias,
#    relevance, epsilon=0.0)` with `a` (N, I), `weights` (I, J), `bias` (J,), `relevance`
#    (N, J); sign(0) counts as +1.

# %%
def lrp_epsilon_dense(a, weights, bias, relevance, epsilon=0.0):
    raise NotImplementedError("your code here")


check("07.lrp_epsilon_dense", lrp_epsilon_dense)

# %% [markdown]
# 2. Increase ε from 0.001 to 10 on the trained model. What happens to the absorbed share and to
#    the map's noise?
# 3. Show that DeepLIFT with a zero reference equals LRP-0 on the bias-free network of 7.2.
#    Why does it no longer hold once the network has biases?
