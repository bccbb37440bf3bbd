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
# conservation on numbers against the model's own logits, why LRP-0 equals gradient × input on
# every ReLU network — with biases too — while biases break conservation (Ancona et al. 2018),
# where the relevance that a trained network "loses" goes, and DeepLIFT's rescale rule with
# its *summation-to-delta* property.

# %%
import keras
import numpy as np
import tensorflow as tf

from xaikit import viz
from xaikit.attribution import deep_taylor, deeplift, deeplift_details, gradient, lrp, lrp_details
from xaikit.data import load
from xaikit.exercises import check
from xaikit.models import logits_model, zoo
from xaikit.report import above, exact, fast_mode, figure, recorded, result, table

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
for bias in (0.0, 1.0):
    a, w, b = np.array([1.0, 2.0]), np.array([[1.0], [1.0]]), np.array([bias])
    R_out = np.array([3.0])
    z = a @ w + b
    R_in = a * ((R_out / z) @ w.T)
    print(f"b = {bias}: z = {z[0]}, R_in = {R_in}, sum = {R_in.sum()} of R_out = {R_out.sum()}"
          f"  (lost: b / z * R_out = {(b / z * R_out)[0]})")

# %% [markdown]
# With $b = 0$ the relevance is conserved; with $b = 1$ the bias takes its share $b_j R_j / z_j$
# and the inputs receive the rest.
#
# ## 7.2 LRP-0 = gradient × input, with and without biases
#
# Why is LRP-0 a gradient? Suppose the relevance arriving at a ReLU layer's outputs is
# $R_j = a_j\,\partial f/\partial a_j$ (true at the top, where $R = f$). The rule sends back
# $R_i = \sum_j a_i w_{ij} R_j / z_j = a_i \sum_j w_{ij}\,\frac{a_j}{z_j}\,\frac{\partial f}{\partial a_j}$,
# and for a ReLU $a_j / z_j = \mathrm{relu}(z_j)/z_j = [z_j > 0] = \mathrm{relu}'(z_j)$, so
# $R_i = a_i\,\partial f/\partial a_i$: the same form one layer down. By induction LRP-0 returns
# exactly **gradient × input** at the pixels, $R_i = x_i\,\partial f / \partial x_i$. Nothing in
# the argument needs $b_j = 0$: the bias only enters through $z_j$, and $\mathrm{relu}(z)/z$ is
# the ReLU's derivative whatever the bias (Ancona, Ceolini, Öztireli & Gross, ICLR 2018,
# arXiv:1711.06104, Prop. 1; max pooling and batch normalisation at inference keep it).
#
# The biases break *conservation* instead: $\sum_i R_i = f(x)$ needs every layer to pass on all
# it receives, and 7.1 showed that a bias keeps its share. We check both statements on two small
# random CNNs of the same shape (conv, max-pool, conv, global average pooling, dense), one without
# biases and one with, comparing with the **Keras model's own logits** (not with the kit's
# re-implementation of the forward pass that LRP walks).

# %%
def small_cnn(use_bias, seed=0):
    keras.utils.set_random_seed(seed)
    init = keras.initializers.RandomUniform(-0.3, 0.3, seed=seed) if use_bias else "zeros"
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", use_bias=use_bias,
                            bias_initializer=init)(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", use_bias=use_bias,
                            bias_initializer=init)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, use_bias=use_bias, bias_initializer=init)(x))


probe = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
nets = {"bias-free": small_cnn(False), "with biases": small_cnn(True)}

# %%
rows = []
for name, net in nets.items():
    logit = net.predict(probe, verbose=0)[:, 0]              # the Keras model's own f(x)
    relevance = lrp(net, probe, 0, epsilon=0.0)              # LRP-0, (N, H, W)
    grad_x_input = (gradient(net, probe, 0) * probe).sum(axis=-1)
    scale = np.abs(grad_x_input).max()
    rows.append({"network": name, "max |LRP-0 - grad x input| / max |grad x input|":
                 float(np.abs(relevance - grad_x_input).max() / scale),
                 "max |sum R - f(x)| / max |f(x)|":
                 float(np.abs(relevance.sum(axis=(1, 2)) - logit).max() / np.abs(logit).max())})
table(rows, "lrp0_two_networks", caption="LRP-0 against gradient × input and against the Keras "
      "model's logit, on a random CNN without and with biases (8 random images).")

# %%
by_net = {row["network"]: row for row in rows}
for name, key in (("bias_free", "bias-free"), ("with_biases", "with biases")):
    result(f"lrp0_equals_gradient_x_input_{name}",
           by_net[key]["max |LRP-0 - grad x input| / max |grad x input|"],
           check=exact(0.0, atol=1e-5), paper="identical on ReLU nets (Ancona et al. 2018, Prop. 1)",
           note="float32: relative error of a few 1e-7 expected")
result("lrp0_conservation_gap_bias_free", by_net["bias-free"]["max |sum R - f(x)| / max |f(x)|"],
       check=exact(0.0, atol=1e-5), paper="0 (conservation)",
       note="against the Keras model's logits")

# %% [markdown]
# And with biases the relevance is *not* conserved: the share each bias keeps is far above float
# rounding. The check below asserts a gap of at least 1 % of the logit on average over the eight
# images (95 % confidence interval of the mean), so it fails if the kit's LRP-0 left the biases
# out of its denominators $z_j$ (as the z⁺ rule of 7.3 does), which would conserve everything.

# %%
net = nets["with biases"]
logit = net.predict(probe, verbose=0)[:, 0]
lost = np.abs(lrp(net, probe, 0, epsilon=0.0).sum(axis=(1, 2)) - logit) / np.abs(logit)
result("lrp0_conservation_broken_by_biases", lost, check=above(0.01),
       paper="biases absorb relevance (Bach et al. 2015; Ancona et al. 2018)",
       note="per image |sum R - f(x)| / |f(x)| on the random CNN with biases")

# %% [markdown]
# ## 7.3 The rules on a trained CNN
#
# The zoo model of lessons 3 and 6 has batch normalisation after each convolution (folded into
# it: an affine layer whose shift acts as a bias) and a biased dense layer. We compare LRP-ε,
# LRP-γ on all layers, α1β0 (z⁺) and the composite that Montavon et al. (2019) recommend — ε on
# the dense layer, γ in the convolutions, z^B at the pixels — with deep Taylor (z⁺ + z^B).

# %%
test = load("shapes", split="test")
model = zoo("shapes")
names = test.class_names
n_show = 3 if FAST else 5
index = np.array([np.flatnonzero(test.labels == c)[0] for c in range(len(names))])[:n_show]
images, labels = test.images[index], test.labels[index]
logit = logits_model(model).predict(images, verbose=0)[np.arange(n_show), labels]

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

# %%
rows = []
for name, options in [("LRP-0", {"epsilon": 0.0}), ("LRP-ε (ε=0.01)", {"epsilon": 0.01}),
                      ("LRP-γ", {"rule": "gamma"}), ("LRP-α1β0 (z⁺)", {"rule": "alpha_beta"}),
                      ("composite", {"rule": "gamma", "rules": composite})]:
    total = lrp(model, images, labels, **options).sum(axis=(1, 2))
    rows.append({"rule": name, "mean logit f(x)": f"{logit.mean():.3f}",
                 "mean sum of relevance": f"{total.mean():.3f}",
                 "mean |f(x) - sum R| / |f(x)|": f"{np.mean(np.abs(logit - total) / np.abs(logit)):.1%}"})
table(rows, "lrp_conservation_trained",
      caption="Conservation on the trained CNN: the relevance each rule hands to the pixels "
              "against the Keras model's logit.")

# %% [markdown]
# ### Where does the missing relevance go?
#
# LRP-0 passes on only part of the logit here (table above, first row). That is not a numerical
# accident, and it has an exact account. A ReLU network with max pooling is positively
# homogeneous of degree 1 in its input *and its biases taken together*: scaling $x$ and every
# bias $b_j$ (here also the batch-norm shifts) by $\lambda > 0$ scales every pre-activation, and
# so the logit, by $\lambda$. Euler's theorem for homogeneous functions then splits the logit into
# a pixel part and a bias part,
#
# $$f(x) = \underbrace{\sum_i x_i \frac{\partial f}{\partial x_i}}_{\text{gradient × input = LRP-0}}
#        + \underbrace{\sum_j b_j \frac{\partial f}{\partial b_j}}_{\text{what the biases carry}} .$$
#
# The bias part is what LRP-0 "loses": it is the share of the decision carried by the network's
# thresholds — the biases and batch-norm shifts — rather than by any pixel. We compute it from the
# Keras model with one Jacobian with respect to the bias variables (a batch-norm layer at
# inference computes $\gamma (a - \mu)/\sigma + \beta$, whose shift $\beta - \gamma\mu/\sigma$
# has the derivative $\partial f/\partial \beta$).

# %%
def shift(layer):
    """The additive term of a layer: a bias, or batch norm's beta - gamma * mean / std."""
    if not isinstance(layer, keras.layers.BatchNormalization):
        return np.asarray(layer.bias)
    gamma = np.asarray(layer.gamma) if layer.scale else 1.0
    std = np.sqrt(np.asarray(layer.moving_variance) + layer.epsilon)
    return np.asarray(layer.beta) - gamma * np.asarray(layer.moving_mean) / std


def bias_part(model, images, targets):
    """sum_j b_j df/db_j per image, with the Keras model's own gradient."""
    head = logits_model(model)
    layers = [layer for layer in head.layers if getattr(layer, "center", False)
              or isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and layer.use_bias]
    variables = [layer.beta if isinstance(layer, keras.layers.BatchNormalization)
                 else layer.bias for layer in layers]
    with tf.GradientTape() as tape:
        scores = tf.gather(head(images, training=False), targets, axis=1, batch_dims=1)
    jacobians = tape.jacobian(scores, variables)                # (N, units) per layer
    return sum(np.asarray(j) @ shift(layer) for j, layer in zip(jacobians, layers))


# %%
pixel = (gradient(model, images, labels) * images).sum(axis=(1, 2, 3))
biases = bias_part(model, images, labels)
lrp0 = lrp(model, images, labels, epsilon=0.0)
zplus = lrp(model, images, labels, rule="alpha_beta").sum(axis=(1, 2))
table({"image": [names[c] for c in labels], "logit f(x)": logit, "pixel part (grad x input)": pixel,
       "bias part": biases, "LRP-0 sum": lrp0.sum(axis=(1, 2)), "LRP-z⁺ sum": zplus},
      "euler_decomposition", caption="The logit of the trained CNN split into its pixel part and "
      "its bias part (Euler), next to the relevance LRP-0 and LRP-z⁺ hand to the pixels.")

# %%
scale = np.abs(logit).max()
result("euler_decomposition_gap", float(np.abs(pixel + biases - logit).max() / scale),
       check=exact(0.0, atol=1e-4), note="max |pixel part + bias part - f(x)| / max |f(x)|, "
       "Keras logits (float32 through 8 layers: ~1e-6 expected)")
result("lrp0_equals_gradient_x_input_trained",
       float(np.abs(lrp0 - (gradient(model, images, labels) * images).sum(axis=-1)).max()
             / np.abs(lrp0).max()), check=exact(0.0, atol=1e-5),
       paper="identical on ReLU nets with biases (Ancona et al. 2018, Prop. 1)")
result("lrp0_bias_share_trained", float(np.mean(np.abs(biases) / np.abs(logit))),
       check=recorded(rtol=0.05), note="mean |bias part| / |f(x)| over the images shown")
result("zplus_conservation_gap_trained", float(np.abs(zplus - logit).max() / scale),
       check=exact(0.0, atol=1e-4), paper="conservation (Montavon et al. 2017)",
       note="z+ against the Keras model's logits")

# %%
share = np.abs(biases) / np.abs(logit)
print(f"The biases carry between {share.min():.0%} and {share.max():.0%} of |f(x)| on these "
      f"images (mean {share.mean():.0%}); their part is negative on {int((biases < 0).sum())} "
      f"of {len(biases)} images, where LRP-0 hands the pixels *more* than the logit.")

# %% [markdown]
# What to conclude. The pixel maps of LRP-0 (= gradient × input) explain only the pixel part;
# the bias part is a real contribution to the decision that no map over pixels can show, and
# it can have either sign, so LRP-0's sum can fall short of the logit or exceed it (printed
# above). The z⁺ rule (α1β0, and deep Taylor) conserves *all* of the logit — checked above
# against the Keras model — but only because its denominators $\sum_i (a_i w_{ij})^+$ leave the
# bias out: it hands the bias part to the pixels, in proportion to their positive contributions.
# Its conservation is a property of the rule, not evidence that the map is more faithful. On the
# bias-free network of 7.2 the bias part is zero and the two views coincide. The ε and γ rules
# move the share again (first table of 7.3): their stabilisers and extra positive weights take
# or give relevance of their own, so their sums do not follow the Euler split.

# %% [markdown]
# ## 7.4 DeepLIFT: differences from a reference
#
# DeepLIFT explains the *difference* $\Delta t = t(x) - t(x^0)$ from a reference input $x^0$.
# Multipliers $m = \Delta y / \Delta x$ are chained backwards like gradients (its eq. 3); for a
# ReLU the **rescale rule** uses the secant slope $\big(\mathrm{relu}(z) - \mathrm{relu}(z^0)\big)
# / (z - z^0)$ instead of the tangent. Contributions $C_i = m_i\,\Delta x_i$ then satisfy
# **summation-to-delta** (eq. 1), $\sum_i C_i = t(x) - t(x^0)$, whatever the biases: the biases'
# share is the same at $x$ and at $x^0$ only to the extent that the reference switches the same
# units on, and the difference absorbs the rest. We check it against the Keras model's logits.

# %%
head = logits_model(model)
for name, baseline in [("black", 0.0), ("grey", 0.5)]:
    contributions = deeplift(model, images, labels, baseline=baseline)
    reference = np.full_like(images, baseline)
    delta = logit - head.predict(reference, verbose=0)[np.arange(n_show), labels]
    gap = float(np.abs(contributions.sum(axis=(1, 2)) - delta).max() / np.abs(delta).max())
    print(f"baseline {name}: Δt = {np.round(delta, 3)}, max |ΣC - Δt| / max |Δt| = {gap:.2e}")
    result(f"deeplift_summation_gap_{name}", gap, check=exact(0.0, atol=1e-4),
           paper="0 (summation-to-delta, Shrikumar et al. 2017 eq. 1)",
           note="against the Keras model's logits at x and at the reference")

# %% [markdown]
# The survey of Zhang et al. (2019) states that LRP "is equivalent to DeepLIFT with all reference
# activations set to zero". Ancona et al. (2018, Prop. 2) give the condition: a zero *input*
# reference gives zero reference *activations* only when the network has no biases. So DeepLIFT
# with a black reference equals LRP-0 on the bias-free network of 7.2, and not on the trained
# CNN, whose biases switch units on even for a black image.

# %%
bias_free = nets["bias-free"]
same = np.abs(deeplift(bias_free, probe, 0, baseline=0.0) - lrp(bias_free, probe, 0, epsilon=0.0))
result("deeplift_zero_equals_lrp0_bias_free", float(same.max() / np.abs(lrp(
    bias_free, probe, 0, epsilon=0.0)).max()), check=exact(0.0, atol=1e-5),
    paper="equivalent with zero reference activations (survey; Ancona et al. 2018, Prop. 2)")
differ = np.abs(deeplift(model, images, labels, baseline=0.0) - lrp0).sum(axis=(1, 2)) / np.abs(
    lrp0).sum(axis=(1, 2))
result("deeplift_zero_differs_from_lrp0_trained", differ, check=above(0.01),
       note="per image sum |DeepLIFT(black) - LRP-0| / sum |LRP-0| on the trained CNN (biases)")

# %%
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
# > convolution. The papers state properties, not numbers, and each is checked here against the
# > Keras model's own logits: LRP-0 = gradient × input with and without biases (7.2, 7.3;
# > Ancona et al. 2018), conservation without biases and its failure with them (7.2), the exact
# > split of the trained CNN's logit into pixel part and bias part (7.3), z⁺'s conservation,
# > summation-to-delta, and the survey's LRP = DeepLIFT equivalence with its condition (7.4).
#
# ## Summary
#
# * LRP redistributes the output layer by layer; each rule is one gradient of a modified layer.
# * LRP-0 equals gradient × input on every ReLU network, with or without biases.
# * Conservation is exact without biases; with them the logit splits exactly into a pixel part
#   (gradient × input) and a bias part, and the bias part is what LRP-0 does not hand out. z⁺
#   conserves everything by leaving the biases out of its denominators.
# * DeepLIFT's contributions add up to the change of the output from the reference; with a zero
#   reference it equals LRP-0 only on a bias-free network.
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
# 2. Increase ε from 0.001 to 10 on the trained model. What happens to the share of the logit
#    that is not handed to the pixels, and to the map's noise?
# 3. 7.4 shows DeepLIFT with a black reference equal to LRP-0 on the bias-free network and
#    different on the trained one. Compute the activations of the trained CNN for a black image:
#    which units are on, and why does that break the equivalence?
# 4. Split the bias part of 7.3 by layer. Which layer's biases (or batch-norm shifts) carry most
#    of it?
#
# ## References
#
# - Bach, S., Binder, A., Montavon, G., Klauschen, F., Müller, K.-R. & Samek, W. (2015). On pixel-wise explanations for non-linear classifier decisions by layer-wise relevance propagation. PLoS ONE 10(7): e0130140. doi:10.1371/journal.pone.0130140.
# - Montavon, G., Lapuschkin, S., Binder, A., Samek, W. & Müller, K.-R. (2017). Explaining nonlinear classification decisions with deep Taylor decomposition. Pattern Recognition 65. arXiv:1512.02479.
# - Montavon, G., Binder, A., Lapuschkin, S., Samek, W. & Müller, K.-R. (2019). Layer-wise relevance propagation: an overview. In Explainable AI: Interpreting, Explaining and Visualizing Deep Learning, Springer LNCS 11700. doi:10.1007/978-3-030-28954-6_10.
# - Shrikumar, A., Greenside, P. & Kundaje, A. (2017). Learning important features through propagating activation differences. ICML 2017. arXiv:1704.02685.
# - Ancona, M., Ceolini, E., Öztireli, C. & Gross, M. (2018). Towards better understanding of gradient-based attribution methods for deep neural networks. ICLR 2018. arXiv:1711.06104.
# - Zhang, W., Cai, L., Chen, M. & Wang, N. (2019). Progress in interpretability research of convolutional neural networks. MobiCASE 2019, Springer LNICST 290. doi:10.1007/978-3-030-28468-8_12.
