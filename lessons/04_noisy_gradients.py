# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 4. Why gradients are noisy, and the fixes
#
# The saliency map of lesson 2 is the gradient of the class score, $\nabla_x S_c(x)$. It is
# cheap and exact, and it looks like static: bright pixels scattered over the whole image,
# "only roughly correlated with the object of interest" (Kim, 2019). Before fixing it we should
# ask *why*. Kim's lecture lists three hypotheses:
#
# 1. **The noise is truthful**: scattered pixels really do change the score.
# 2. **Gradients are discontinuous**: a ReLU network is piecewise linear, so the gradient jumps
#    when the input moves by an infinitesimal amount across a kink.
# 3. **The score saturates**: a feature can matter a lot globally and still have a tiny
#    derivative locally, once the network's output has flattened out.
#
# Each hypothesis comes with a fix: SmoothGrad averages away the jumps (Smilkov et al., 2017),
# interior and integrated gradients look inside the saturated region (Sundararajan et al., 2016,
# 2017), and deconvnet / guided backpropagation change the backward pass itself (Zeiler &
# Fergus, 2014; Springenberg et al., 2015). We test each hypothesis on numbers, then apply each
# fix, on a CNN trained on handwritten digits.
#
# **You will learn** how a ReLU routes a gradient in backprop, deconvnet and guided backprop;
# how to check the three hypotheses; and how SmoothGrad and Integrated Gradients work, including
# how well IG satisfies its completeness axiom for a given number of steps.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from xaikit import viz
from xaikit.attribution import (
    deconvnet,
    gradient,
    guided_backprop,
    integrated_gradients,
    interior_gradients,
    saliency,
    smoothgrad,
)
from xaikit.data import load
from xaikit.exercises import check
from xaikit.models import logits_model, zoo, zoo_info
from xaikit.report import exact, fast_mode, figure, recorded, result, table

FAST = fast_mode()

# %% [markdown]
# ## 4.1 A ReLU on numbers: backprop, deconvnet, guided backprop
#
# A ReLU computes $\max(0, f)$ in the forward pass. In the backward pass it receives a signal
# $R$ from the layer above and passes on
#
# $$\text{backprop: } R \cdot [f > 0], \qquad \text{deconvnet: } R \cdot [R > 0], \qquad
# \text{guided backprop: } R \cdot [f > 0] \cdot [R > 0].$$
#
# Backprop gates by the *forward* activation, the deconvnet by the sign of the *backward*
# signal, guided backprop by both. Here is the worked example of Kim's slides:

# %%
f = np.array([[1, -1, 5], [2, -5, -7], [-3, 2, 4]], dtype=np.float32)  # forward: ReLU input
R = np.array([[-2, 3, -1], [6, -3, 1], [2, -1, 3]], dtype=np.float32)  # backward: from above
by_hand = {
    "backprop": R * (f > 0),
    "deconvnet": R * (R > 0),
    "guided backprop": R * (f > 0) * (R > 0),
}
for name, values in by_hand.items():
    print(f"{name}:\n{values.astype(int)}")

# %% [markdown]
# The kit applies the same rules to a whole network by giving every ReLU a modified gradient
# in a rewritten copy of the model that shares its weights. To check it on the example, we
# build a network whose only ReLU sees $f$ and whose score is $\sum R \odot \text{relu}(f)$, so
# the signal arriving at the ReLU from above is exactly $R$.

# %%
inputs = keras.Input((3, 3, 1))
score_layer = keras.layers.Dense(1, use_bias=False)
toy = keras.Model(inputs, score_layer(keras.layers.Flatten()(keras.layers.ReLU()(inputs))))
score_layer.set_weights([R.reshape(9, 1)])
x = f[None, :, :, None]
by_kit = {
    "backprop": gradient(toy, x, 0)[0, ..., 0],
    "deconvnet": deconvnet(toy, x, 0, signed=True, per_channel=True)[0, ..., 0],
    "guided backprop": guided_backprop(toy, x, 0, signed=True, per_channel=True)[0, ..., 0],
}
matches = all(np.array_equal(by_kit[name], by_hand[name]) for name in by_hand)
table([{"rule": name, "kit": str(by_kit[name].astype(int).tolist()),
        "slides": str(by_hand[name].astype(int).tolist())} for name in by_hand],
      "table_relu_rules", caption="The three ReLU rules on Kim's worked example.")
result("relu_example_matches_slides", matches, paper=True, check=exact(True))

# %% [markdown]
# ## 4.2 The network and its saliency maps
#
# The zoo's `digits` model is a small CNN (two conv + max-pool blocks, a dense layer of 1024
# ReLUs, logits and a softmax) trained on the 8x8 scikit-learn digits, upsampled to 32x32. We
# explain the logit of the predicted class (the kit strips the softmax by default).

# %%
test = load("digits", split="test")
model = zoo("digits")
logits = logits_model(model)
predicted = logits.predict(test.images, verbose=0).argmax(axis=1)
accuracy = float((predicted == test.labels).mean())
n_images = 4 if FAST else 8
chosen = np.flatnonzero(predicted == test.labels)[:: max(1, len(test) // 40)][:n_images]
images, targets = test.images[chosen], test.labels[chosen]
print(f"test accuracy {accuracy:.3f} on {len(test)} images; explaining {len(images)} of them")
result("digits_test_accuracy", accuracy, paper=zoo_info("digits")["stated_accuracy"], check=recorded(rtol=0.03))

# %%
raw = gradient(model, images, targets)
fig = viz.grid(images, {"gradient": raw, "saliency": saliency(model, images, targets)},
               signed=["gradient"])
figure(fig, "fig_saliency", caption="Gradients (signed, blue < 0 < red) and saliency maps "
       "max_c |dS/dx| of the predicted class: speckled, spread beyond the strokes.")


# %% [markdown]
# To compare maps by number rather than by eye we use two measures on maps normalised to
# $[0, 1]$: the **total variation** (mean absolute difference between neighbouring pixels: noise
# makes it large) and the **ink fraction** (the share of the map's mass on the digit's strokes).

# %%
def total_variation(maps):
    """Mean |difference| between neighbouring pixels of the |map| normalised to [0, 1]."""
    m = viz.normalize(viz.to_2d(maps), "abs")
    return float(np.abs(np.diff(m, axis=1)).mean() + np.abs(np.diff(m, axis=2)).mean())


def ink_fraction(maps, images, threshold=0.3):
    """Share of the |map| mass on pixels brighter than ``threshold`` (the strokes)."""
    m = np.abs(viz.to_2d(maps))
    on_ink = images[..., 0] > threshold
    return float(((m * on_ink).sum(axis=(1, 2)) / m.sum(axis=(1, 2))).mean())


print(f"gradient: TV {total_variation(raw):.3f}, ink fraction {ink_fraction(raw, images):.2f}")

# %% [markdown]
# ## 4.3 Hypothesis 1: the noise is truthful
#
# If the gradient is right, moving the pixels with the largest $|\partial S / \partial x_i|$ by
# a small $\varepsilon$ in the gradient's direction should raise the score by about
# $\varepsilon \sum_i |\partial S / \partial x_i|$, far more than moving as many random pixels.

# %%
def nudge(images, grads, pixels, eps):
    """Add eps * sign(gradient) on the given flat pixel indices of every image."""
    moved = images.reshape(len(images), -1).copy()
    rows = np.arange(len(images))[:, None]
    moved[rows, pixels] += eps * np.sign(grads.reshape(len(images), -1)[rows, pixels])
    return moved.reshape(images.shape)


def target_score(batch):
    return logits.predict(batch, verbose=0)[np.arange(len(batch)), targets]


# %%
k, eps = 20, 0.02
flat = np.abs(raw.reshape(len(images), -1))
top = np.argsort(-flat, axis=1)[:, :k]
random_pixels = np.random.default_rng(0).choice(flat.shape[1], size=(len(images), k), replace=False)
base_score = target_score(images)
rows = []
for name, pixels in (("top-20 gradient pixels", top), ("20 random pixels", random_pixels)):
    predicted_change = eps * np.take_along_axis(flat, pixels, axis=1).sum(axis=1)
    actual_change = target_score(nudge(images, raw, pixels, eps)) - base_score
    rows.append({"pixels moved": name, "predicted dS (1st order)": f"{predicted_change.mean():.4f}",
                 "actual dS": f"{actual_change.mean():.4f}"})
table(rows, "table_hypothesis1", caption="Moving 20 pixels by 0.02 along the gradient's sign: "
      "the gradient predicts the score change well, for the top pixels and for random ones.")

# %% [markdown]
# The first-order prediction holds: the gradient is *locally* truthful, its scattered pixels do
# move the score. But a map meant for people should show what matters at the scale of a
# visible change, and that is where the next two hypotheses come in.
#
# ## 4.4 Hypothesis 2: gradients are discontinuous
#
# Walk along a line $x + t\delta$ through the image and record the score and the derivative
# with respect to one pixel. The score is continuous; its derivative is piecewise constant and
# jumps whenever a ReLU or a max-pool switches.

# %%
n_points = 101 if FAST else 401
t = np.linspace(-1.0, 1.0, n_points, dtype=np.float32)
delta = 0.05 * np.random.default_rng(1).standard_normal(images.shape[1:]).astype(np.float32)
line = images[0] + t[:, None, None, None] * delta
line_targets = np.full(n_points, targets[0])
line_grads = gradient(model, line, line_targets, batch_size=128)
pixel = np.unravel_index(np.abs(raw[0]).argmax(), raw[0].shape)
derivative = line_grads[(slice(None), *pixel)]

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(t, logits.predict(line, verbose=0)[:, targets[0]])
axes[0].set(xlabel="t", ylabel="S(x + t delta)", title="score: continuous")
axes[1].plot(t, derivative, drawstyle="steps-mid")
axes[1].set(xlabel="t", ylabel="dS/dx at one pixel", title="gradient: jumps")
fig.tight_layout()
figure(fig, "fig_discontinuous", caption="Along a line through a digit the score is continuous "
       "but its derivative with respect to one pixel is piecewise constant and jumps.")

# %%
jumps = int((np.abs(np.diff(derivative)) > 1e-6).sum())
neighbour = gradient(model, images + 0.02 * np.random.default_rng(2).standard_normal(
    images.shape).astype(np.float32), targets)
cosine = np.sum(raw * neighbour, axis=(1, 2, 3)) / (
    np.linalg.norm(raw.reshape(len(raw), -1), axis=1) * np.linalg.norm(neighbour.reshape(len(raw), -1), axis=1))
print(f"{jumps} jumps of one pixel's derivative over {n_points} points of the line")
result("gradient_cosine_under_2pct_noise", float(cosine.mean()),
       note="cosine similarity of the gradient at x and at x + N(0, 0.02^2): below 1, the "
            "gradient changes under noise too small to see", check=recorded(rtol=0.05))

# %% [markdown]
# ## 4.5 Hypothesis 3: the score saturates
#
# Scale the image from black to itself, $\alpha x$ for $\alpha \in [0, 1]$. The softmax
# probability of the class rises and then flattens, and its gradient shrinks as it flattens,
# although the pixels clearly matter: they took the probability from chance (0.1) to near 1.
# (The kit warns when asked to explain probabilities with `on="probabilities"`; here that is
# the point.)

# %%
alphas = np.linspace(0.0, 1.0, 21 if FAST else 51, dtype=np.float32)
path = alphas[:, None, None, None] * images[0]
path_targets = np.full(len(alphas), targets[0])
probability = model.predict(path, verbose=0)[:, targets[0]]
logit = logits.predict(path, verbose=0)[:, targets[0]]
prob_grad = gradient(model, path, path_targets, on="probabilities")
logit_grad = gradient(model, path, path_targets)


# %%
def grad_norm(g):
    return np.linalg.norm(g.reshape(len(g), -1), axis=1)


fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(alphas, probability, label="probability")
axes[0].plot(alphas, grad_norm(prob_grad) / grad_norm(prob_grad).max(), "--", label="|gradient| (scaled)")
axes[0].set(xlabel="alpha", title="softmax output of alpha * x")
axes[1].plot(alphas, logit, label="logit")
axes[1].plot(alphas, logit.max() * grad_norm(logit_grad) / grad_norm(logit_grad).max(), "--",
             label="|gradient| (scaled)")
axes[1].set(xlabel="alpha", title="logit of alpha * x")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
figure(fig, "fig_saturation", caption="Scaling a digit from black (alpha = 0) to itself: the "
       "probability saturates and its gradient vanishes; the logit keeps a gradient.")
result("probability_gradient_at_x_vs_max", float(grad_norm(prob_grad)[-1] / grad_norm(prob_grad).max()), note="|grad p(x)| relative to its maximum along the path", check=recorded(rtol=0.1))

# %% [markdown]
# Explaining the logit instead of the probability (the kit's default) removes the worst of the
# saturation, but the logit of a ReLU network saturates too, inside the network. The fixes:
#
# ## 4.6 SmoothGrad: average the jumps away
#
# $$\hat M(x) = \frac{1}{n}\sum_{s=1}^{n} \nabla S(x + \varepsilon_s), \qquad
# \varepsilon_s \sim \mathcal N(0, \sigma^2), \quad \sigma = \text{sigma} \cdot (\max x - \min x).$$
#
# Averaging the gradient over a Gaussian neighbourhood smooths the discontinuities of
# hypothesis 2. The kit runs all $n \cdot N$ noisy copies through one compiled function in
# internal batches. We reproduce the noise-level sweep of Smilkov et al. (Fig. 3):

# %%
n_samples = 10 if FAST else 50
levels = (0.05, 0.1, 0.2, 0.3)
smooth = {f"sigma {level:.0%}": smoothgrad(model, images, targets, n_samples=n_samples, sigma=level)
          for level in levels}
fig = viz.grid(images, {"saliency": saliency(model, images, targets), **smooth})
figure(fig, "fig_smoothgrad_sigma", caption=f"SmoothGrad with n = {n_samples} and increasing "
       "noise (compare Smilkov et al. 2017, Fig. 3): the speckle fades, the strokes remain.")

# %%
variants = {
    "gradient": raw,
    **{f"SmoothGrad {name}": maps for name, maps in smooth.items()},
    "SmoothGrad^2 (15%)": smoothgrad(model, images, targets, n_samples=n_samples, squared=True),
    "VarGrad (15%)": smoothgrad(model, images, targets, n_samples=n_samples, vargrad=True),
}
rows = [{"map": name, "total variation": f"{total_variation(maps):.3f}",
         "ink fraction": f"{ink_fraction(maps, images):.2f}"} for name, maps in variants.items()]
table(rows, "table_smoothgrad", caption="Noise (total variation) and ink fraction of the maps.")
reduction = 1 - total_variation(smooth["sigma 20%"]) / total_variation(raw)
result("smoothgrad_tv_reduction_sigma20", reduction, paper="visibly smoother at 10-20%", check=recorded(rtol=0.1))

# %% [markdown]
# ## 4.7 Interior gradients: look inside the saturated region
#
# $$\text{IntGrad}(x) = \nabla S(x^*)\big|_{x^* = \alpha x}, \qquad 0 < \alpha \le 1.$$
#
# A small $\alpha$ evaluates the gradient before the network saturates (Kim's slide shows a
# sweep over $\alpha$ from 0.02 to 1); targets are the classes predicted for $x$ itself.

# %%
interior_alphas = (0.02, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
interior = {f"alpha {a}": interior_gradients(model, images[:2], targets[:2], alpha=a)
            for a in interior_alphas}
fig = viz.grid(images[:2], interior)
figure(fig, "fig_interior_gradients", caption="Interior gradients at alpha * x (Kim's slides, "
       "\"Interior Gradient\"): the map changes with alpha, which one should we trust?")

# %% [markdown]
# ## 4.8 Integrated Gradients: all the interior gradients at once
#
# Rather than choose one $\alpha$, Sundararajan, Taly & Yan (2017) integrate them along the
# straight path from a baseline $x'$ (black by default):
#
# $$\text{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial S(x' + \alpha(x - x'))}{\partial x_i}
# \, d\alpha .$$
#
# By the fundamental theorem of calculus for path integrals IG is **complete**:
# $\sum_i \text{IG}_i(x) = S(x) - S(x')$ (their Prop. 1). The integral is a sum over $m$ steps,
# so completeness holds only up to the quadrature error, which `return_gap=True` reports.

# %%
ig_maps, ig_gap = integrated_gradients(model, images, targets, steps=64, return_gap=True)
blurred = integrated_gradients(model, images, targets, baseline="blurred", steps=64)
fig = viz.grid(images, {"gradient x input": raw[..., 0] * images[..., 0],
                        "IG (black)": ig_maps, "IG (blurred)": blurred},
               signed=["gradient x input", "IG (black)", "IG (blurred)"])
figure(fig, "fig_integrated_gradients", caption="Integrated Gradients from a black and from a "
       "blurred baseline, next to gradient x input (signed).")

# %%
difference = target_score(images) - target_score(np.zeros_like(images))
rows = []
for rule in ("riemann_left", "riemann_right", "riemann_mid", "trapezoid"):
    for steps in ((8, 64) if FAST else (8, 16, 32, 64, 128)):
        _, gap = integrated_gradients(model, images, targets, steps=steps, rule=rule, return_gap=True)
        rows.append({"rule": rule, "steps": steps,
                     "max |gap| / |S(x) - S(x')|": f"{np.max(np.abs(gap / difference)):.2e}"})
table(rows, "table_ig_completeness", caption="Completeness of IG: the largest relative gap "
      "|sum IG - (S(x) - S(x'))| / |S(x) - S(x')| over the images, by rule and number of steps.")
relative_gap = float(np.max(np.abs(ig_gap / difference)))
result("ig_completeness_gap_64_trapezoid", relative_gap, paper="within 5% for 20-300 steps", check=exact(0.0, atol=0.01))

# %% [markdown]
# ## 4.9 Deconvnet and guided backpropagation
#
# The backprop-based fixes of §4.1 applied to the whole network: "removing more gradient leads
# to sharper visualisations" (Kim). Guided backprop removes the most. Sharper is not more
# faithful, though: lesson 08 shows that guided backprop's maps barely change when the
# network's weights are replaced by random ones (Adebayo et al., NeurIPS 2018).

# %%
backprop_maps = {"gradient": saliency(model, images, targets),
                 "deconvnet": deconvnet(model, images, targets),
                 "guided backprop": guided_backprop(model, images, targets)}
figure(viz.grid(images, backprop_maps), "fig_backprop_rules",
       caption="Backprop, deconvnet and guided backprop (max over channels of |signal|).")
table([{"map": name, "total variation": f"{total_variation(maps):.3f}",
        "ink fraction": f"{ink_fraction(maps, images):.2f}"} for name, maps in backprop_maps.items()],
      "table_backprop_rules", caption="Noise and ink fraction of the backprop-based maps.")

# %% [markdown]
# > **Paper vs here.** *Kim's worked example*: the three rules give exactly the slide's numbers
# > (§4.1). *Smilkov et al. 2017* show on ImageNet Inception models that maps get visibly less
# > noisy as sigma grows to 10-20 % of the range, and blur beyond; here, on 32-pixel digits, the
# > total variation falls as sigma grows (table above), with n = 50 copies as in the paper
# > (10 in fast mode). *Sundararajan et al. 2017* recommend 20 to 300 steps to get within 5 % of
# > completeness; with the trapezoid or midpoint rule 64 steps stay well within 1 % here, while
# > left/right Riemann sums, which their Eq. 3 uses, converge more slowly (first order). Our
# > network is far smaller than theirs, and our "noise" measures are simple proxies for what the
# > papers show as pictures.

# %% [markdown]
# ## 4.10 Exercises
#
# *How your code is graded:* the grader runs your imports, your functions and the module-level
# assignments they use — not the rest of the notebook — on the public checks below and on
# hidden cases of the same kinds, and compares the outputs with a reference solution.
#
# **SmoothGrad.** Write `smooth_grad(model, images, targets, noise, sigma)`: the average raw
# gradient (N, H, W, C) of the target scores over the noisy copies
# `images + sigma * (max - min) * noise[s]`, where `noise` has shape (n, N, H, W, C) and max/min
# are taken per image. The model outputs scores (no softmax). Run all copies as one batch.


# %%
def smooth_grad(model, images, targets, noise, sigma):
    """Return the mean gradient (N, H, W, C) over the noisy copies of each image."""
    raise NotImplementedError("replace this line by your code")


check("04.smooth_grad", smooth_grad)


# %% [markdown]
# **Integrated Gradients with the trapezoid rule.** Write
# `integrated_gradients_trapezoid(model, images, targets, baseline, steps)` returning
# (N, H, W, C): use the $m + 1$ points $\alpha_k = k/m$ with weights $1/m$, halved at both
# ends. The first public check is $S(x) = \sum x^2$, where IG is exactly $x^2$.


# %%
def integrated_gradients_trapezoid(model, images, targets, baseline, steps):
    """Return IG (N, H, W, C) on the straight path from baseline to images (trapezoid rule)."""
    raise NotImplementedError("replace this line by your code")


check("04.integrated_gradients_trapezoid", integrated_gradients_trapezoid)

# %% [markdown]
# ## Summary
#
# * A ReLU passes $R\,[f>0]$ in backprop, $R\,[R>0]$ in a deconvnet and $R\,[f>0]\,[R>0]$ in
#   guided backprop.
# * The gradient is locally truthful (hypothesis 1) but piecewise constant with jumps
#   (hypothesis 2), and small where the network saturates (hypothesis 3).
# * SmoothGrad averages gradients over Gaussian noise of 10-20 % of the input range; interior
#   gradients evaluate at $\alpha x$; Integrated Gradients integrates them and is complete up to
#   its quadrature error, which the trapezoid rule keeps under 1 % at 64 steps here.
#
# ## Further exercises
#
# 1. Repeat the SmoothGrad sweep with `method="gradient_x_input"` and with
#    `method="integrated_gradients"` (SmoothGrad composes with any method). What changes?
# 2. Make IG's gap table for the blurred baseline. Is convergence faster or slower, and why?
# 3. Guided backprop hardly changes when the class changes (try `targets=(targets + 1) % 10`).
#    What does that say about what it explains? (Lesson 08 measures it: the random-logit
#    test.)
