# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 8. Sanity checks
#
# Lessons 4 and 5 praised guided backpropagation for its crisp maps. Crisp maps are pleasant to
# look at, but pleasant is not the question. An explanation is meant to tell us something about
# *the model*: if we destroyed the model's weights and the explanation stayed the same, it could
# not have been explaining the model. Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim make this
# a test in "Sanity Checks for Saliency Maps" (NeurIPS 2018, arXiv:1810.03292): randomise the
# network's weights layer by layer, from the logits down, and watch which maps change.
#
# We reproduce their cascading-randomisation figure on the paper's own small CNN, measure the
# similarity curves, repeat the test one layer at a time and with a model trained on permuted
# labels, and then turn to two more checks: Kindermans et al.'s *input invariance* (does a
# constant shift of the input, which the network compensates exactly, change the map?) and
# Sixt et al.'s *random logit* test (does the map change when we explain another class?).
#
# **You will learn** the model- and data-randomisation tests, the similarity measures used to
# read them (rank correlation, SSIM, HOG) and how a black background fools them, why some
# methods behave like edge detectors, what input invariance and completeness demand of an
# explanation, and how to write the cascading loop yourself.

# %%
import functools

import matplotlib.pyplot as plt
import numpy as np

from xaikit import viz
from xaikit.attribution import grad_cam, guided_grad_cam, integrated_gradients, smoothgrad
from xaikit.data import imagenet_photos, load
from xaikit.exercises import check
from xaikit.metrics.axioms import INVARIANCE_TOLERANCE, completeness, input_invariance
from xaikit.metrics.randomisation import (
    cascading_randomisation,
    data_randomisation,
    efficient_mprt,
    independent_randomisation,
    permuted_label_model,
    permuted_training_set,
    random_logit,
    smooth_mprt,
)
from xaikit.metrics.similarity import spearman_abs
from xaikit.models import accuracy, mlp, pretrained, train, zoo, zoo_info
from xaikit.report import above, below, exact, fast_mode, figure, pattern, recorded, result, table
from xaikit.tolerance import confidence_interval

FAST = fast_mode()
N_IMAGES = 12 if FAST else 48            # images explained at every step
SEEDS = (0,) if FAST else (0, 1, 2, 3, 4)  # random re-initialisations of the whole cascade

# %% [markdown]
# ## 8.1 The paper's network and eight methods
#
# Adebayo et al. run their MNIST experiments on the TensorFlow tutorial CNN: two 5 × 5
# convolutions (32 and 64 channels) with max-pooling, a dense layer of 1024 units and the
# logits. The zoo's `digits` model is that architecture (`simple_cnn`), trained on the offline
# digits set (scikit-learn's 8 × 8 digits upsampled to 32 × 32 px). Its layers with weights are
# what the cascade re-initialises, from the top down.

# %%
model = zoo("digits")
test = load("digits", split="test")
images, labels = test.images[:N_IMAGES], test.labels[:N_IMAGES]
print("architecture:", zoo_info("digits")["arch"], "- test accuracy:",
      f"{accuracy(model, test):.3f}")
print("layers with weights (input to logits):", [layer.name for layer in model.layers if layer.weights])

# %% [markdown]
# The eight rows of the paper's Fig. 2, with the settings used here (the paper's SmoothGrad
# and integrated gradients use more samples and steps; fast mode uses fewer still). Grad-CAM
# reads the last convolution, `last_conv`, as in the paper. Every map explains the true class.

# %%
SG_SAMPLES, IG_STEPS = (4, 8) if FAST else (8, 16)
METHODS = {
    "gradient": "saliency",
    "gradient × input": "gradient_x_input",
    "SmoothGrad": functools.partial(smoothgrad, n_samples=SG_SAMPLES),
    "integrated gradients": functools.partial(integrated_gradients, steps=IG_STEPS),
    "guided backprop": "guided_backprop",
    "Grad-CAM": functools.partial(grad_cam, layer="last_conv"),
    "guided Grad-CAM": functools.partial(guided_grad_cam, layer="last_conv"),
    "LRP": "lrp",
}

# %% [markdown]
# ## 8.2 How alike are two maps?
#
# Adebayo et al. compare each randomised map with the trained model's map by the Spearman rank
# correlation of the absolute values (their main measure), the rank correlation of the signed
# values, the structural similarity SSIM of the maps scaled to [0, 1] (Wang et al. 2004), and the
# correlation of their histograms of oriented gradients (HOG), which compares edges:
#
# $$\rho_{|\cdot|}(a, b) = \operatorname{corr}\big(R(|a|), R(|b|)\big), \qquad
#   \mathrm{SSIM}(a, b) = \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}
#   {(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)}.$$
#
# Our digits are white strokes on a **black background**. Where a pixel is 0, gradient × input,
# integrated gradients (zero baseline) and LRP give exactly 0 whatever the weights, so every map
# of these methods shares the same block of tied zeros — which by itself makes rank correlations
# high. We therefore also compute $\rho_{|\cdot|}$ on the foreground pixels only.

# %%
FOREGROUND = 0.1  # a pixel belongs to the digit when its intensity exceeds this
foreground = images[..., 0] > FOREGROUND
SIMILARITIES = {"spearman_abs": "spearman_abs", "spearman": "spearman", "ssim": "ssim",
                "hog": "hog",
                "spearman_abs_fg": functools.partial(spearman_abs, mask=foreground)}
print(f"foreground: {foreground.mean():.0%} of the pixels")

# %% [markdown]
# ## 8.3 Cascading randomisation (Fig. 2 of the paper)
#
# `cascading_randomisation` copies the model once, then re-initialises its layers in place,
# logits first, each with its own initializer; after every step all eight methods explain the
# same images again. The copy's compiled functions are traced once and reused at every step,
# and the zoo model itself never changes. We repeat the whole cascade for several seeds (new
# random weights each time).

# %%
runs = {seed: cascading_randomisation(model, images, METHODS, labels, seed=seed,
                                      similarities=SIMILARITIES) for seed in SEEDS}
first = runs[SEEDS[0]]
print("randomised, in order:", first.steps)

# %%
shown = 0  # the first test image
columns = {"trained": np.stack([first.maps[m][0, shown] for m in first.methods])}
for step, layer in enumerate(first.steps, start=1):
    columns[f"up to {layer}"] = np.stack([first.maps[m][step, shown] for m in first.methods])
fig = viz.grid(np.repeat(images[shown:shown + 1], len(METHODS), axis=0), columns,
               image_titles=list(first.methods), size=1.35)
figure(fig, "fig2_cascading_randomisation",
       caption="Fig. 8.1 — Adebayo et al., Fig. 2 on the digits CNN: each row a method, the "
               "trained model's map, then the maps after re-initialising the layers from the "
               "logits down to the named one (|map|, each scaled to its own maximum).")

# %% [markdown]
# Read the figure row by row. The gradient, SmoothGrad and Grad-CAM maps turn to noise as soon
# as the logits are random. Guided backprop keeps drawing the digit's strokes until the very
# last column. Gradient × input, integrated gradients and LRP keep the digit's shape too, but
# for another reason we come back to in 8.5.
#
# ## 8.4 The similarity curves, and the paper's claim
#
# The curves average over the images and seeds; the table after them gives, for the fully
# randomised network, 95 % confidence intervals over the images.

# %%
MEASURES = ("spearman_abs", "spearman_abs_fg", "ssim", "hog")
curves = {name: np.stack([runs[s].mean(name) for s in SEEDS]) for name in MEASURES}  # (S, M, L)
steps = ["trained", *first.steps]
fig, axes = plt.subplots(1, len(MEASURES), figsize=(4 * len(MEASURES), 3.2), sharey=True)
for ax, name in zip(axes, MEASURES):
    for k, method in enumerate(first.methods):
        mean = np.r_[1.0, curves[name][:, k].mean(axis=0)]
        ax.plot(steps, mean, marker="o", label=method)
    ax.set_title(name.replace("_fg", " (foreground)"), fontsize=10)
    ax.tick_params(axis="x", rotation=45)
axes[0].set_ylabel("similarity to the trained map")
axes[-1].legend(fontsize=7, loc="lower left")
fig.tight_layout()
figure(fig, "fig4_similarity_curves",
       caption="Fig. 8.2 — Adebayo et al.'s similarity curves on the digits CNN: similarity of each "
               "method's map to the trained model's map as the layers are randomised from the "
               "logits down (mean over images and seeds).")


# %%
def final(run_list, measure):
    """(seeds, images) similarity after the last step, per method."""
    return {m: np.stack([r.similarity[measure][k, -1] for r in run_list])
            for k, m in enumerate(run_list[0].methods)}


def interval(samples):
    mean, low, high = confidence_interval(samples) if np.size(samples) > 1 else (
        float(np.mean(samples)),) * 3
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


after = {name: final(list(runs.values()), name) for name in MEASURES}
table([{"method": m, **{name: interval(after[name][m].mean(axis=0)) for name in MEASURES}}
       for m in first.methods], "table_final_similarity",
      caption="Similarity to the trained model's map after the full cascade: mean and 95 % CI "
              "over the images (each image averaged over the seeds).")

# %% [markdown]
# **The paper's finding.** After the whole network is random, gradient and Grad-CAM maps are
# far less similar to the trained ones than guided backprop and guided Grad-CAM maps. We test it
# on the rank correlation of absolute values: per image, the mean of the two "insensitive"
# methods minus the mean of the two "sensitive" ones must be positive (95 % CI over images), and
# the two groups must be separated by more than three standard deviations of their seed-to-seed
# variation. With one seed (fast mode) there is no seed-to-seed variation to measure, so the
# separation is measured in standard deviations over the images, against a threshold of one.

# %%
rho = after["spearman_abs"]
sensitive = (rho["gradient"] + rho["Grad-CAM"]) / 2           # (seeds, images)
insensitive = (rho["guided backprop"] + rho["guided Grad-CAM"]) / 2
difference = (insensitive - sensitive).mean(axis=0)
result("insensitive_minus_sensitive_rank_correlation", difference, check=above(0.0),
       paper="gradient, Grad-CAM near 0; guided BP, guided Grad-CAM stay high (curves)")
if len(SEEDS) >= 3:
    high, low = insensitive.mean(axis=1), sensitive.mean(axis=1)  # one group mean per seed
    spread, threshold = np.sqrt((high.var(ddof=1) + low.var(ddof=1)) / 2), 3.0
else:
    high, low = insensitive.mean(axis=0), sensitive.mean(axis=0)  # one value per image
    spread, threshold = (insensitive - sensitive).std(ddof=1), 1.0
separation = float((high.mean() - low.mean()) / spread)
result("group_separation_in_sd", separation, check=recorded(rtol=0.1))
result("groups_separated", {"more than threshold SDs apart": bool(separation > threshold)},
       check=pattern({"more than threshold SDs apart": True}),
       note=f"separation {separation:.2f} SD, threshold {threshold:g}")

# %% [markdown]
# The claim holds on the digits CNN, but look at the table before quoting it: guided backprop
# carries the "insensitive" group. Guided Grad-CAM is guided backprop multiplied by the
# upsampled Grad-CAM map, and on this small network the random Grad-CAM factor moves its
# maximum around enough that guided Grad-CAM ends up much closer to Grad-CAM than to guided
# backprop; on the paper's Inception v3 the guided-backprop factor dominates.

# %% [markdown]
# ## 8.5 Why some maps look like the input: edge detectors and the black background
#
# Adebayo et al. (Sec. 5) compare the insensitive methods with an edge detector: a map built
# from the input alone also "highlights the bird". Gradient × input is the extreme case: it is
# the input, pixel by pixel, multiplied by a gradient. Where the digit is, a random network's
# gradient still has *some* value, so the product keeps the stroke; where the background is 0,
# the product is exactly 0 whatever the weights. Two measurements say how much of the similarity
# above comes from that:

# %%
inputs_abs = images[..., 0]
rows = []
for method in first.methods:
    trained, random = first.maps[method][0], first.maps[method][-1]
    rows.append({"method": method,
                 "ρ(|map|, image), trained": interval(spearman_abs(trained, inputs_abs)),
                 "ρ(|map|, image), random": interval(spearman_abs(random, inputs_abs)),
                 "exact zeros in the random map": f"{np.mean(random == 0):.0%}"})
table(rows, "table_maps_like_the_input",
      caption="Rank correlation of each map with the input image itself, for the trained and "
              "the fully randomised network (seed 0), and the share of exact zeros.")
inflation = (after["spearman_abs"]["gradient × input"]
             - after["spearman_abs_fg"]["gradient × input"]).mean(axis=0)
result("black_background_inflates_gradient_x_input", inflation, check=above(0.0),
       paper="Sec. 5: gradient × input is dominated by the input")

# %% [markdown]
# After the full cascade, gradient × input, integrated gradients and LRP still correlate with the
# image about as strongly as before: they are mostly the image. On the foreground alone their
# similarity to the trained maps drops sharply (the table of 8.4), so the black background
# accounts for much of their apparent insensitivity. Signed rank correlation and foreground-only
# similarity are the fair measures on such data; the paper's absolute-value measure is not.
#
# ## 8.6 Independent randomisation
#
# Re-initialising one layer at a time (the others keep their trained weights, as in the
# paper's independent randomisation) asks which layer each method listens to.

# %%
CLAIM_METHODS = {m: METHODS[m] for m in ("gradient", "guided backprop", "Grad-CAM",
                                         "guided Grad-CAM")}
alone = independent_randomisation(model, images, CLAIM_METHODS, labels, seed=SEEDS[0],
                                  similarities=("spearman_abs",))
table([{"method": m, **{layer: f"{alone.mean()[k, s]:.3f}" for s, layer in enumerate(alone.steps)}}
       for k, m in enumerate(alone.methods)], "table_independent_randomisation",
      caption="Rank correlation (absolute values) with the trained map when only the named "
              "layer is re-initialised (mean over images, seed 0).")
result("independent_gradient_logits_only", float(alone.mean()[0, -1]), check=recorded(rtol=0.1))
result("independent_guided_backprop_logits_only", float(alone.mean()[1, -1]),
       check=recorded(rtol=0.1))

# %% [markdown]
# ## 8.7 Data randomisation
#
# The second test keeps the architecture and the training recipe but permutes the training
# labels. Such a network can only memorise; a map that explains *what the network learned from
# the labels* must look different. `permuted_label_model` retrains the zoo recipe on permuted
# labels (cached like the zoo, so this runs once). The paper trains until the random labels are
# fitted; the zoo recipe's epochs fit only part of them (printed below; in fast mode, with the
# fast recipe's few epochs, barely more than chance), so our "memoriser" is only partly trained.

# %%
memoriser = permuted_label_model("digits", seed=SEEDS[0])
fitted = accuracy(memoriser, permuted_training_set("digits", seed=SEEDS[0]))
print(f"network trained on permuted labels: {fitted:.3f} of its (random) training labels fitted,"
      f" test accuracy {accuracy(memoriser, test):.3f} (chance {1 / len(test.class_names):.2f})")
DATA_METHODS = {m: METHODS[m] for m in ("gradient", "gradient × input", "guided backprop",
                                        "Grad-CAM", "guided Grad-CAM")}
permuted = data_randomisation(model, images, DATA_METHODS, labels, randomised=memoriser,
                              similarities={"ρ |·|": "spearman_abs", "ρ signed": "spearman",
                                            "SSIM": "ssim"})

# %%
table([{"method": m, **{name: interval(values[k, 0]) for name, values in
                        permuted.similarity.items()}} for k, m in enumerate(permuted.methods)],
      "table_data_randomisation",
      caption="Similarity of the maps of the network trained on permuted labels to those of "
              "the properly trained network (mean, 95 % CI over images).")
by_method = dict(zip(permuted.methods, permuted.similarity["ρ |·|"][:, 0]))
result("data_randomisation_gradient_rank_correlation", by_method["gradient"],
       check=below(0.5), paper="the gradient's maps change with the labels")
result("data_randomisation_guided_backprop_rank_correlation",
       float(by_method["guided backprop"].mean()), check=recorded(rtol=0.1, atol=0.05))

# %% [markdown]
# The gradient's maps change completely, as in the paper; we call "changed" a rank correlation
# below 0.5 (95 % CI over images). Gradient × input again agrees with the trained maps in
# absolute value but not in sign: the agreement is the input's. Guided backprop, so stable under
# weight randomisation, changes here too on our small network: the memoriser's weights are not
# random, they are trained on other targets, and the guided signal follows them.

# %% [markdown]
# ## 8.8 On photographs: an ImageNet CNN
#
# The paper's headline figure randomises Inception v3 block by block on ImageNet photographs.
# The kit's offline ImageNet network is EfficientNet-Lite0 (Tan & Le, ICML 2019,
# arXiv:1905.11946), whose weights ship inside a Python package; we randomise it the same way,
# one block at a time from the classifier down to the stem (`layers=` groups each block's
# layers into one step). Its hidden activations are ReLU6, for which guided backpropagation
# defines no rule, so its rows here are the gradient, gradient × input and Grad-CAM (fast
# mode: two photographs, the gradient alone, three coarse steps).

# %%
effnet = pretrained("efficientnet-lite0")
photos = imagenet_photos()
photos = photos.subset(np.arange(2)) if FAST else photos
blocks = {}
for layer in effnet.layers:
    if layer.weights:  # stem_conv, block0_dw_conv, ..., head_bn, logits
        blocks.setdefault(layer.name.split("_")[0], []).append(layer.name)
if FAST:
    blocks = {"logits": blocks["logits"], "stem": blocks["stem"],
              "blocks and head": [n for k, v in blocks.items() if k not in ("logits", "stem")
                                  for n in v]}
PHOTO_METHODS = {"gradient": "saliency", "gradient × input": "gradient_x_input",
                 "Grad-CAM": "grad_cam"}  # Grad-CAM on the head, the last 4-D output
if FAST:
    PHOTO_METHODS = {"gradient": "saliency"}
on_photos = cascading_randomisation(effnet, photos.images, PHOTO_METHODS, photos.labels,
                                    layers=blocks, similarities=("spearman_abs", "ssim"))
print(len(on_photos.steps), "steps:", ", ".join(on_photos.steps))

# %%
shown_steps = sorted({0, *range(1, len(on_photos.steps) + 1, 3), len(on_photos.steps)})
columns = {("trained" if s == 0 else f"up to {on_photos.steps[s - 1]}"):
           np.stack([on_photos.maps[m][s, 0] for m in on_photos.methods]) for s in shown_steps}
fig = viz.grid(np.repeat(photos.images[:1], len(PHOTO_METHODS), axis=0), columns,
               image_titles=list(on_photos.methods), size=1.5)
figure(fig, "fig2_cascading_randomisation_photo",
       caption="Fig. 8.3 — the cascade on EfficientNet-Lite0 (ImageNet), as the paper's Fig. 2 "
               "on Inception v3: rows are methods, columns the trained network and the network "
               "randomised from the classifier down to the named block.")
table([{"method": m, **{step: f"{on_photos.mean()[k, s]:.2f}" for s, step in
                        enumerate(on_photos.steps)}} for k, m in enumerate(on_photos.methods)],
      "table_photo_cascade", caption="Rank correlation (absolute values) with the trained "
      "network's maps after each step, mean over the photographs.")
result("photo_gradient_after_full_cascade", on_photos.similarity["spearman_abs"][0, -1],
       check=below(0.5), paper="gradient: near 0 on Inception v3")

# %% [markdown]
# ## 8.9 Input invariance (Kindermans et al.)
#
# Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan & Kim ("The (Un)reliability of
# Saliency Methods", 2019, arXiv:1711.00867) propose another check that any map should pass.
# Take a network whose first layer is $z = Wx + b$ and shift every input by a constant $m$.
# The network with bias $b - Wm$ then computes exactly the same function of the *unshifted*
# input, so its predictions and gradients are identical:
#
# $$f_2(x + m) = f_1(x) \quad\text{for}\quad f_2(x) = g(Wx + b - Wm).$$
#
# A method that explains the function should give both the same map. Their experiment uses an
# MLP on MNIST (a zero-padded convolution could not absorb the shift at the image borders), so we
# train a small MLP on the digits and shift the inputs from [0, 1] to [-1, 0].

# %%
SHIFT = -1.0
train_set = load("digits", split="train")
mlp_model = mlp(model.input_shape[1:], len(test.class_names), hidden=(128, 64), name="digits_mlp")
train(mlp_model, train_set, epochs=2 if FAST else 8, seed=0, progress=False)
print(f"MLP test accuracy: {accuracy(mlp_model, test):.3f}")
# midpoint rule: the trapezoid rule would also evaluate the gradient at the zero baseline
# itself, where ReLUs whose bias stayed 0 sit exactly on their kink
IG_MID = {"steps": IG_STEPS, "rule": "riemann_mid"}
KINDERMANS = {  # method, options, options on the shifted input, invariant in the paper
    "gradient": ("saliency", {}, None, True),
    "SmoothGrad": ("smoothgrad", {"n_samples": SG_SAMPLES}, None, True),
    "guided backprop": ("guided_backprop", {}, None, True),
    "gradient × input": ("gradient_x_input", {}, None, False),
    "IG, zero baseline": ("integrated_gradients", {"baseline": 0.0, **IG_MID}, None, False),
    "IG, shifted baseline": ("integrated_gradients", {"baseline": 0.0, **IG_MID},
                             {"baseline": SHIFT, **IG_MID}, True),
    "LRP (epsilon)": ("lrp", {}, None, False),
}

# %%
change = {name: input_invariance(mlp_model, images, method, labels, shift=SHIFT,
                                 options=options, shifted_options=shifted)
          for name, (method, options, shifted, _) in KINDERMANS.items()}
table([{"method": name, "largest relative change": f"{change[name].max():.2e}",
        "invariant here": bool(change[name].max() < INVARIANCE_TOLERANCE),
        "Kindermans et al.": "invariant" if invariant else "not invariant"}
       for name, (_, _, _, invariant) in KINDERMANS.items()], "table_input_invariance",
      caption=f"Input invariance under the shift m = {SHIFT:g}: the largest change of a map, "
              "relative to the larger map's maximum, over the images.")
result("input_invariance_pattern",
       {name: bool(change[name].max() < INVARIANCE_TOLERANCE) for name in KINDERMANS},
       check=pattern({name: spec[3] for name, spec in KINDERMANS.items()}, tier=1),
       paper="gradient, SmoothGrad invariant; gradient × input, IG (zero), LRP not")

# %% [markdown]
# The pattern is exact: the invariant methods change by float rounding only, the others by a
# large fraction of their range. Gradient × input multiplies by the shifted input, so it
# changes by $m \odot \nabla f$; integrated gradients with a fixed zero baseline integrates
# along another path; LRP's first layer distributes relevance in proportion to $x_i w_{ij}$.
# Move IG's baseline with the input and the invariance comes back — the choice of reference is
# part of the explanation.
#
# The same construction checks **completeness**: integrated gradients' attributions add up to
# $f(x) - f(x')$, up to the quadrature error of its few steps (`IG_STEPS`); Sundararajan et al.
# ask for the gap to stay within 5 % of the score change.

# %%
ig_maps = integrated_gradients(model, images, labels, steps=IG_STEPS)
gap = completeness(model, images, ig_maps, labels, baseline="black")
# with all-zero maps the gap is -(f(x) - f(x')): the score change the attributions must add up to
scores = np.abs(completeness(model, images, np.zeros_like(ig_maps), labels, baseline="black"))
result("ig_relative_completeness_gap", float(np.max(np.abs(gap) / scores)),
       check=exact(0.0, atol=0.05),
       paper="Prop. 1; 20-300 steps bring it within 5 %")

# %% [markdown]
# ## 8.10 Random logit (Sixt, Granz & Landgraf, ICML 2020)
#
# A third sanity check needs no randomised weights: explain another class. Sixt et al. show
# that several modified-backpropagation methods produce nearly the same map whatever class is
# explained. `random_logit` compares each image's map for its class with the map for a class
# drawn at random (SSIM).

# %%
logit = {m: random_logit(model, images, method, labels, seed=SEEDS[0])
         for m, method in CLAIM_METHODS.items()}
table([{"method": m, "SSIM(true class, random class)": interval(v)} for m, v in logit.items()],
      "table_random_logit", caption="Similarity of the maps of the true and a random class.")
result("random_logit_guided_bp_minus_gradient",
       logit["guided backprop"] - logit["gradient"], check=above(0.0),
       paper="modified backprop is class-insensitive (Sixt et al.)")

# %% [markdown]
# ## 8.11 A fresh look: eMPRT and sMPRT (Hedström et al. 2024)
#
# Hedström, Weber, Lapuschkin & Höhne ("A Fresh Look at Sanity Checks for Saliency Maps", 2024,
# arXiv:2401.06465) point at two weaknesses of the original test: noisy maps already differ
# from themselves, which inflates the drop in similarity, and the order of randomisation
# matters. *Smooth MPRT* denoises each map by averaging it over noisy copies of the input before
# comparing; *efficient MPRT* compares only two states, trained and fully random, through the
# rise in the maps' complexity (the entropy of their histogram), higher meaning more sensitive.

# %%
emprt = {m: efficient_mprt(model, images, method, labels, seed=SEEDS[0])
         for m, method in CLAIM_METHODS.items()}
smooth = smooth_mprt(model, images, {"gradient": "saliency"}, labels,
                     n_samples=2 if FAST else 10, seed=SEEDS[0])
table([{"method": m, "eMPRT median": f"{np.median(v):.3f}",
        "eMPRT mean (95 % CI)": interval(v)} for m, v in emprt.items()], "table_emprt",
      caption="Efficient MPRT per method over the images (relative rise in the maps' entropy).")
print("sMPRT, gradient, bottom-up:",
      ", ".join(f"{step} {value:.3f}" for step, value in zip(smooth.steps, smooth.mean()[0])))
result("emprt_gradient", float(emprt["gradient"].mean()), check=recorded(rtol=0.1, atol=0.02))

# %% [markdown]
# Grad-CAM's trained maps are mostly exact zeros (the ReLU of its definition), so their entropy
# is close to 0 and the *relative* rise is huge and unstable from image to image: the median is
# the better summary there, and a reminder that a ratio to a near-zero complexity is fragile.

# %% [markdown]
# > **Paper vs here.** *Adebayo et al. 2018* report curves, not tables: on Inception v3
# > (ImageNet) the rank correlation of gradient and Grad-CAM maps with the originals drops
# > towards 0 as the blocks are randomised, while guided backprop and guided Grad-CAM stay high
# > (their similarity curves); on MNIST they repeat the comparison with a network trained on
# > permuted labels (their data randomisation test). Here the network is their MNIST CNN trained on 32-pixel digits, with fewer
# > SmoothGrad samples and IG steps, and a label-permuted network trained with the zoo's recipe
# > rather than to a perfect fit. Checked: the insensitive group is more similar than the
# > sensitive one (CI over images) and the groups are separated by more than three seed-to-seed
# > standard deviations over five seeds (fast mode: one seed, one standard deviation over
# > images — a looser threshold that still fails when the groups overlap); the gradient's maps
# > change under data randomisation (CI over images). Not reproduced as stated: guided Grad-CAM
# > on its own stays close to Grad-CAM on this small network (table of 8.4), and guided backprop
# > changes under data randomisation. On photographs the network is EfficientNet-Lite0, not
# > Inception v3, and guided backprop has no rule for its ReLU6: checked, the gradient's maps
# > lose their structure after the full cascade (CI over the photographs). *Kindermans et
# > al.*: the invariance pattern of their table, exactly, on an MLP as theirs. *Sixt et al.*:
# > guided backprop is less class-sensitive than the gradient.
#
# ## 8.12 Exercises
#
# **Exercise 1 (`08.cascade_maps`).** Write the cascading loop for one method:
# `cascade_maps(model, images, targets, layer_names, explain, reinitialise)` returns the maps
# `explain(m, images, targets)` of the trained model and after each step, stacked as
# `(len(layer_names) + 1, N, H, W)`. Randomise the layers in the order given, each step keeping
# the earlier ones random, on a **copy** of the model (`reinitialise(layer)` refuses the
# original's layers). The kit's randomisation functions are not allowed.


# %%
def cascade_maps(model, images, targets, layer_names, explain, reinitialise):
    """Return the maps before and after each cumulative re-initialisation, (K + 1, N, H, W)."""
    raise NotImplementedError("your code here")


check("08.cascade_maps", cascade_maps)

# %% [markdown]
# **Exercise 2 (`08.spearman_abs`).** Write `spearman_abs_similarity(maps_a, maps_b)`: for each
# pair of maps, the Spearman rank correlation of their absolute values over the pixels (ties get
# their average rank), shape `(N,)`; return 0 where a map's magnitude is constant.


# %%
def spearman_abs_similarity(maps_a, maps_b):
    """Return the rank correlation of |maps_a[i]| and |maps_b[i]| for each i, shape (N,)."""
    raise NotImplementedError("your code here")


check("08.spearman_abs", spearman_abs_similarity)

# %% [markdown]
# **Exercise 3 (`08.compensated_bias`).** Write `compensated_bias(kernel, bias, shift)`: the bias
# $b - Wm$ of a first layer that makes the network ignore the constant input shift $m$. `kernel`
# is a Dense kernel `(D, K)` or a valid Conv2D kernel `(kh, kw, C, K)`; `shift` is a number or
# one value per input (Dense) or per channel (Conv2D).


# %%
def compensated_bias(kernel, bias, shift):
    """Return the (K,) bias that compensates the constant input shift."""
    raise NotImplementedError("your code here")


check("08.compensated_bias", compensated_bias)

# %% [markdown]
# ## Summary
#
# * An explanation that does not change when the model's weights (model randomisation) or its
#   training labels (data randomisation) are destroyed cannot be used to debug the model.
# * On the paper's CNN, gradient, SmoothGrad and Grad-CAM maps change as soon as the top layers
#   are random; guided backprop keeps drawing the digit until the whole network is random.
# * Similarity measures have blind spots: on black-background data, methods that multiply by
#   the input share exact zeros, and absolute-value rank correlation calls them alike; compare
#   signed maps and the foreground only.
# * Input invariance: a shift the network compensates exactly leaves gradients, SmoothGrad and
#   guided backprop unchanged and changes gradient × input, integrated gradients with a fixed
#   baseline and LRP; the reference point is part of the explanation.
# * The random-logit test, eMPRT and sMPRT probe class sensitivity and repair the original
#   test's dependence on noise and on the order of randomisation.
#
# ## References
#
# * J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim. Sanity Checks for
#   Saliency Maps. NeurIPS 2018, arXiv:1810.03292.
# * P.-J. Kindermans, S. Hooker, J. Adebayo, M. Alber, K. T. Schütt, S. Dähne, D. Erhan,
#   B. Kim. The (Un)reliability of Saliency Methods. In *Explainable AI*, LNCS 11700, 2019,
#   arXiv:1711.00867.
# * L. Sixt, M. Granz, T. Landgraf. When Explanations Lie: Why Many Modified BP Attributions
#   Fail. ICML 2020, arXiv:1912.09818.
# * A. Hedström, L. Weber, S. Lapuschkin, M. Höhne. A Fresh Look at Sanity Checks for Saliency
#   Maps. xAI 2024, arXiv:2401.06465.
# * Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli. Image Quality Assessment: From Error
#   Visibility to Structural Similarity. IEEE TIP 13(4), 2004.
# * N. Dalal, B. Triggs. Histograms of Oriented Gradients for Human Detection. CVPR 2005.
#
# ## Further exercises
#
# 1. Randomise bottom-up (`order="bottom-up"`). Which methods now change first, and why does
#    Hedström et al.'s advice favour this order?
# 2. Compute the signed rank correlation (`"spearman"`) after the full cascade for gradient ×
#    input and integrated gradients. What changes compared with the absolute-value version?
# 3. With MNIST on disk (`xaikit.data.mnist()`), train `xaikit.models.simple_cnn((28, 28, 1), 10)`
#    for two epochs and repeat 8.3–8.4. Does the background effect grow or shrink?
# 4. Run `random_logit` with `similarity="spearman"` for LRP with the `"zplus"` rule. Sixt et
#    al. predict that it ignores the class: does it?
