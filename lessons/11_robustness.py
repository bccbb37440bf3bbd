# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 11. Robustness, and can we trust the metrics?
#
# A map that changes completely when the image changes imperceptibly explains little.
# Ghorbani, Abid & Zou (AAAI 2019) show that gradient maps are *fragile*: a perturbation too
# small to see, that keeps the label, can move the map's most important pixels elsewhere. Yeh
# et al. (NeurIPS 2019), Alvarez-Melis & Jaakkola (2018) and Agarwal et al. (NeurIPS 2022)
# measure how much a map moves under small random perturbations. And the metrics themselves
# are not neutral: they disagree with each other (Vandersmissen & Oramas, CVIU 2024), and their
# verdict moves with arbitrary choices such as the fill value.
#
# **You will learn** the fragility attack and why it needs a smooth twin of the network; the
# sensitivity, Lipschitz and relative-stability measures; the complexity of a map; and two
# tests of the metrics themselves: their coherency and their sensitivity to the baseline.

# %%
import matplotlib.pyplot as plt
import numpy as np

from xaikit import viz
from xaikit.attribution import integrated_gradients, smoothgrad
from xaikit.data import load
from xaikit.exercises import check
from xaikit.metrics import METRIC_INFO, robustness
from xaikit.metrics.common import attribution_maps
from xaikit.metrics.complexity import complexity, effective_complexity, sparseness
from xaikit.metrics.fragility import fragility
from xaikit.metrics.meta import baseline_sensitivity, metric_coherency, random_map
from xaikit.models import zoo
from xaikit.report import above, below, exact, fast_mode, figure, recorded, result, table

FAST = fast_mode()
N_IMAGES = 12 if FAST else 48
EPSILON = 8 / 255


def interval(values):
    """Mean ± half-width of the 95 % confidence interval (normal approximation)."""
    values = np.asarray(values, np.float64)
    return f"{values.mean():.3g} ± {1.96 * values.std(ddof=1) / np.sqrt(len(values)):.2g}"


# %% [markdown]
# ## 11.1 Interpretation is fragile
#
# Ghorbani et al. perturb an image $x$ within an $L_\infty$ budget $\epsilon$ in two ways: a
# **random sign** $x + \epsilon\,\mathrm{sign}(u)$, and an **attack** that climbs a
# dissimilarity $D$ between the new map and the old one by signed gradient steps projected back
# into the budget, refusing every step that changes the predicted label:
#
# $$x^{(p+1)} = \Pi_{\lVert x' - x\rVert_\infty \le \epsilon}
#   \Big(x^{(p)} + \alpha\,\mathrm{sign}\,\nabla_x D\big(I(x^{(p)}), I(x)\big)\Big).$$
#
# The **top-k** attack lowers the share of the map's mass on its original top 5 % of pixels;
# the **centre-of-mass** attack moves the map's centre. $\nabla_x D$ differentiates the map, which
# is itself a gradient: for a ReLU network that second derivative is zero almost everywhere, so
# the attack differentiates a copy of the network whose ReLUs are softplus
# $\ln(1 + e^{\beta z})/\beta$, $\beta = 10$ (`xaikit.core.softplus`). The maps we *measure* are
# the method's own, on the original network. Budget $\epsilon = 8/255$, steps
# $\alpha = 1/255$, 40 iterations; the shapes zoo CNN of lesson 10.

# %%
model = zoo("shapes")
test = load("shapes", split="test")
images = test.images[:N_IMAGES]
attacked = ("saliency",) if FAST else ("saliency", "gradient_x_input")
fragile = {name: fragility(model, images, name, epsilon=EPSILON) for name in attacked}
rows = [{"method": name, "perturbation": perturbation,
         "top-5 % intersection": interval(res.top_k_intersection[p]),
         "Spearman": interval(res.spearman[p]),
         "centre shift (px)": interval(res.centre_shift[p]),
         "labels changed": int(res.label_changed[p].sum()),
         "max |x' − x| · 255": f"{255 * res.linf[p].max():.1f}"}
        for name, res in fragile.items() for p, perturbation in enumerate(res.perturbations)]
table(rows, "table_fragility",
      caption=f"How far the map moves under a random sign and under two attacks at the same "
              f"budget 8/255, mean ± 95 % CI over {N_IMAGES} images (after Ghorbani et al. 2019, "
              "Fig. 3)")

# %%
res = fragile["saliency"]
shown = int(np.argmin(res.top_k_intersection[1] - res.top_k_intersection[0]))
clean = attribution_maps(model, images[shown:shown + 1], "saliency")[0]
panels = {"original": (images[shown], clean)}
panels |= {name: (res.images[p, shown], res.maps[p, shown])
           for p, name in enumerate(("random sign", "top-k attack", "centre attack"))}
fig, axes = plt.subplots(2, 4, figsize=(11, 5.4))
for column, (title, (image, heat)) in enumerate(panels.items()):
    axes[0, column].imshow(np.clip(image, 0, 1))
    axes[0, column].set_title(title)
    axes[1, column].imshow(viz.normalize(heat[None])[0], cmap="magma")
    for ax in axes[:, column]:
        ax.axis("off")
figure(fig, "fig_fragility",
       caption="The same label, images that look alike, and their saliency maps: a random sign "
               "perturbation and two attacks within 8/255 (after Ghorbani et al. 2019, Fig. 1)")

# %% [markdown]
# The claims: the top-k attack moves the top-k intersection far more than random noise of the
# same size (tier 3, per-image differences); no attack step changes the label and every image
# stays within the budget (tier 1: the algorithm refuses such steps, so a failure is a bug).

# %%
result("attack_moves_top_k_more_than_noise",
       res.top_k_intersection[1] - res.top_k_intersection[0],
       paper="attacks move the top-k far more than random noise", check=below(0.0))
result("attack_keeps_the_label", int(res.label_changed[1:].sum()), paper="0 (label preserved)",
       check=exact(0))
result("perturbations_within_budget", float(max(res.linf.max() - EPSILON, 0.0)),
       check=exact(0.0, atol=1e-6))
result("saliency_top_k_after_attack", float(res.top_k_intersection[1].mean()),
       check=recorded(rtol=0.1, atol=0.02))

# %% [markdown]
# ## 11.2 Sensitivity and stability
#
# Without an adversary: draw perturbations uniformly in the $L_\infty$ ball of radius
# $r = 0.02$ and explain each copy with the same method, for the class of the clean image.
#
# * max-sensitivity (Yeh et al.): $\max_\delta \lVert\Phi(x+\delta) - \Phi(x)\rVert /
#   \lVert\Phi(x)\rVert$, and its average;
# * local Lipschitz estimate (Alvarez-Melis & Jaakkola): $\max_{x'}
#   \lVert\Phi(x) - \Phi(x')\rVert / \lVert x - x'\rVert$;
# * relative input / output stability (Agarwal et al.): the *relative* change of the map over
#   the relative change of the input (of the logits), over perturbations that keep the label.
#
# Yeh et al. show that smoothing lowers sensitivity; SmoothGrad averages the gradient over
# noisy copies. The random map is the control: it changes completely.

# %%
def smoothgrad_saliency(model, images, targets=None, **options):
    return smoothgrad(model, images, targets, method="saliency", n_samples=10, **options)


def integrated_gradients_16(model, images, targets=None, **options):
    return integrated_gradients(model, images, targets, steps=16, **options)


methods = {"gradient": "saliency", "gradient × input": "gradient_x_input",
           "IG (16 steps)": integrated_gradients_16, "SmoothGrad": smoothgrad_saliency,
           "Grad-CAM": "grad_cam", "random": random_map}
stable = {name: robustness.stability(model, images, method).scores
          for name, method in methods.items()}
table([{"method": name, **{k.replace("_", " "): interval(v[np.isfinite(v)])
                           for k, v in scores.items()}}
       for name, scores in stable.items()], "table_stability",
      caption="Sensitivity and stability per method (lower is more robust), mean ± 95 % CI")
result("smoothgrad_less_sensitive_than_gradient",
       stable["gradient"]["max_sensitivity"] - stable["SmoothGrad"]["max_sensitivity"],
       paper="Yeh et al.: smoothing lowers max-sensitivity", check=above(0.0))
result("max_sensitivity_gradient", float(stable["gradient"]["max_sensitivity"].mean()),
       check=recorded(rtol=0.1))

# %% [markdown]
# ### Exercise 1: max-sensitivity
#
# Write `max_sensitivity(explain, image, deltas)`: `explain` is a Keras model mapping images
# (N, H, W, C) to maps (N, H, W); return the largest relative change
# $\lVert \Phi(x + \delta_j) - \Phi(x)\rVert_2 / \lVert \Phi(x) \rVert_2$ over the perturbations
# `deltas` (S, H, W, C), explaining them all in one batch.

# %%
def max_sensitivity(explain, image, deltas):
    raise NotImplementedError("your code here")


check("11.max_sensitivity", max_sensitivity)

# %% [markdown]
# ## 11.3 Complexity
#
# A map spread over every pixel is hard to read. **Sparseness** is the Gini index of $|a|$
# (Chalasani et al., ICML 2020), 0 for a constant map and $1 - 1/n$ for a single pixel;
# **complexity** is the entropy of the shares $|a_i| / \sum_j |a_j|$ (Bhatt et al., IJCAI 2020);
# **effective complexity** counts the pixels above $10^{-5}$ of the maximum (Nguyen & Rodríguez
# Martínez 2020). For uniform noise the Gini index is $1/3$ exactly in expectation: the random
# map checks the implementation on numbers.

# %%
maps = {name: attribution_maps(model, images, method) for name, method in methods.items()}
table([{"method": name, "sparseness (Gini)": interval(sparseness(m)),
        "complexity (entropy)": interval(complexity(m)),
        "effective complexity": interval(effective_complexity(m))}
       for name, m in maps.items()], "table_complexity",
      caption=f"Complexity of the maps (entropy of a constant map: ln {64 * 64} = "
              f"{np.log(64 * 64):.2f}), mean ± 95 % CI")
result("gini_of_uniform_noise", float(sparseness(maps["random"]).mean()), paper="1/3",
       check=exact(1 / 3, atol=0.01))

# %% [markdown]
# ### Exercise 2: the Gini index
#
# Write `gini(maps)` for maps (N, H, W): the Gini index of each map's absolute values.

# %%
def gini(maps):
    raise NotImplementedError("your code here")


check("11.gini", gini)

# %% [markdown]
# ## 11.4 Do the metrics agree? Coherency
#
# Each metric ranks the methods on each image. Vandersmissen & Oramas compare these rankings
# across metrics with Kendall's $\tau$ (1: the same order, 0: unrelated, −1: reversed), on the
# raw maps and on binarised maps (the top 20 % of pixels set to 1, the rest to 0), which asks
# whether a metric reacts to the map's values or only to where its top pixels are. They report
# that metrics of different families rank methods differently, and that the pointing game
# agrees least with the others. Each metric's settings are in `OPTIONS` (fast mode: coarser
# steps and fewer subsets, so that the 6 methods x 7 metrics x 2 map versions run in seconds).

# %%
METRICS = ["deletion", "insertion", "aopc", "irof", "faithfulness_correlation", "sparseness",
           "max_sensitivity"]
has_pointing_game = "pointing_game" in METRIC_INFO
if has_pointing_game:
    METRICS.append("pointing_game")
ROW = 64  # pixels per deletion / insertion step: one row (fast mode: four)
OPTIONS = {"deletion": {"pixels_per_step": 4 * ROW if FAST else ROW},
           "insertion": {"pixels_per_step": 4 * ROW if FAST else ROW},
           "aopc": {"steps": 10 if FAST else 100},
           "faithfulness_correlation": {"n_samples": 50 if FAST else 100}}
coherency = metric_coherency(model, images, methods, metrics=METRICS,
                             masks=test.masks[:N_IMAGES], transforms=("none", "binarise"),
                             metric_options=OPTIONS)
fig, axes = plt.subplots(1, 2, figsize=(12, 5))
for ax, transform in zip(axes, coherency.transforms):
    tau = np.nanmean(coherency.tau[transform], axis=2)
    shown_tau = ax.imshow(tau, cmap="RdBu", vmin=-1, vmax=1)
    ax.set_xticks(range(len(METRICS)), METRICS, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(METRICS)), METRICS, fontsize=7)
    ax.set_title(f"maps: {transform}")
fig.colorbar(shown_tau, ax=axes, shrink=0.8, label="Kendall τ (mean over images)")
figure(fig, "fig_coherency",
       caption="Agreement between the metrics' rankings of six maps (Kendall tau, mean over "
               "images), raw and binarised maps (after Vandersmissen & Oramas 2024)")
agreement = coherency.agreement("none")
table([{"metric": name, "mean τ with the others": f"{value:.2f}"}
       for name, value in sorted(agreement.items(), key=lambda item: item[1])],
      "table_coherency", caption="Each metric's mean agreement with the other metrics")
print("pointing game included:", has_pointing_game)

# %% [markdown]
# The claim we check: the metrics do not agree well; the mean $\tau$ over all pairs of
# metrics, image by image, is below 0.5 (tier 3, CI over images). When the pointing game is
# available it is compared with the other metrics' agreement.

# %%
tau = coherency.tau["none"]
pairs = np.triu_indices(len(METRICS), k=1)
per_image = np.nanmean(tau[pairs[0], pairs[1]], axis=0)
result("metrics_disagree_mean_tau", per_image, paper="metrics of different families disagree",
       check=below(0.5))
result("deletion_insertion_tau", float(np.nanmean(tau[0, 1])), check=recorded(rtol=0.1, atol=0.05))

# %% [markdown]
# ## 11.5 The fill decides: baseline sensitivity
#
# Quantus' README shows a method ranking flip when the perturbation baseline changes. Here the
# deletion metric ranks the same maps with four baselines (`baseline=`): black, the image's mean
# colour, the paper's blur and uniform noise.

# %%
sensitivity = baseline_sensitivity(model, images, {k: v for k, v in methods.items()
                                                   if k != "SmoothGrad"}, metric="deletion",
                                   baselines=("black", "mean", "petsiuk_blur", "uniform_noise"))
ranks = sensitivity.ranks()
fig, ax = plt.subplots(figsize=(6, 3.8))
for k, name in enumerate(sensitivity.methods):
    ax.plot(range(len(sensitivity.baselines)), ranks[:, k], marker="o", label=name)
ax.set_xticks(range(len(sensitivity.baselines)), sensitivity.baselines)
ax.set_yticks(range(1, len(sensitivity.methods) + 1))
ax.set(ylabel="rank (1 = best deletion)", xlabel="baseline of deleted pixels")
ax.invert_yaxis()
ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
figure(fig, "fig_baseline_sensitivity",
       caption="The same maps ranked by the deletion metric with four fill values (the effect "
               "Quantus' README shows)")
between = sensitivity.tau[np.triu_indices(len(sensitivity.baselines), k=1)]  # (pairs, images)
result("fill_changes_rankings", np.nanmean(between, axis=0),
       paper="rankings move with the baseline", check=below(1.0))

# %% [markdown]
# > **Paper vs here.** Ghorbani et al.: ImageNet (SqueezeNet, Inception) and CIFAR-10, 100 to
# > 300 attack iterations, $\epsilon$ up to 8/255, top-1000 pixels of 224 x 224; here the shapes
# > CNN at 64 pixels, 40 iterations, the top 5 % (205 pixels), $\beta = 10$ for the softplus
# > twin. Yeh et al. report max-sensitivity on MNIST, CIFAR-10 and ImageNet for r around 0.1
# > to 0.2 of the input range; here r = 0.02 and 10 draws. Vandersmissen & Oramas compare 10
# > metrics on ImageNet and their own synthetic data; here 7 or 8 metrics of this kit on six maps.
#
# ## Summary
#
# * A small, label-preserving attack can move a gradient map's top pixels much more than random
#   noise of the same size: the map is a property of a point, not of the image as we see it.
# * Sensitivity and stability measure that for random perturbations; smoothing helps.
# * Metrics disagree, and one arbitrary choice (the fill) can reorder the methods: report the
#   settings, show the random control, and use more than one metric.
#
# ## References
#
# * A. Ghorbani, A. Abid, J. Zou. Interpretation of Neural Networks Is Fragile. AAAI 2019,
#   arXiv:1710.10547.
# * C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye, P. Ravikumar. On the (In)fidelity and
#   Sensitivity of Explanations. NeurIPS 2019, arXiv:1901.09392.
# * D. Alvarez-Melis, T. S. Jaakkola. On the Robustness of Interpretability Methods. ICML
#   Workshop on Human Interpretability 2018, arXiv:1806.08049.
# * C. Agarwal, N. Johnson, M. Pawelczyk, S. Krishna, E. Saxena, M. Zitnik, H. Lakkaraju.
#   Rethinking Stability for Attribution-based Explanations. 2022, arXiv:2203.06877.
# * P. Chalasani, J. Chen, A. R. Chowdhury, S. Jha, X. Wu. Concise Explanations of Neural
#   Networks using Adversarial Training. ICML 2020, arXiv:1810.06583.
# * U. Bhatt, A. Weller, J. M. F. Moura. Evaluating and Aggregating Feature-based Model
#   Explanations. IJCAI 2020, arXiv:2005.00631.
# * A.-P. Nguyen, M. Rodríguez Martínez. On Quantitative Aspects of Model Interpretability. 2020,
#   arXiv:2007.07584.
# * T. Vandersmissen, J. Oramas. On the Coherency of Quantitative Evaluation of Visual
#   Explanations. CVIU 2024, arXiv:2302.10764.
# * A. Hedström et al. Quantus: An Explainable AI Toolkit for Responsible Evaluation of Neural
#   Network Explanations. JMLR 24, 2023, arXiv:2202.06861.
#
# ## Exercises
#
# 1. `max_sensitivity` (above).
# 2. `gini` (above).
# 3. Run `fragility` with `maps_or_method="integrated_gradients"`. Is IG less fragile than the
#    gradient, as Ghorbani et al. find for some networks?
# 4. Recompute the coherency with `transforms=("none", "sparsify")`. Which metrics change most?
