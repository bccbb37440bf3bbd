# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 10. Faithfulness: remove what the map points at
#
# Lessons 2-7 produced maps; lessons 8 and 9 asked whether they depend on the model and whether
# they land on known evidence. Most of the time there is no ground truth, and the question left
# is the one a map implicitly answers: *if I remove what it points at, does the model's belief
# drop?* Petsiuk, Das & Saenko (BMVC 2018) turn it into two curves, **deletion** and
# **insertion**; Samek et al. (IEEE TNNLS 2017) into **region perturbation** and its area, AOPC;
# Hooker et al. (NeurIPS 2019) object that a model never saw images with holes and **retrain**
# after removing pixels (ROAR, KAR).
#
# **You will learn** the deletion and insertion metrics and their areas, why the fill value
# decides the verdict, Samek's MoRF/LeRF curves and AOPC/ABPC, and ROAR/KAR; every table shows a
# random map as the control a metric must beat before it says anything.

# %%
import matplotlib.pyplot as plt
import numpy as np

from xaikit import viz
from xaikit.attribution import (
    deconvnet,
    grad_cam,
    integrated_gradients,
    lime,
    lime_details,
    lrp,
    occlusion,
    rise,
    saliency,
    smoothgrad,
)
from xaikit.data import imagenet_photos, load
from xaikit.exercises import check
from xaikit.metrics.faithfulness import (
    abpc,
    aopc,
    deletion,
    insertion,
    kar,
    region_perturbation,
    roar,
)
from xaikit.metrics.meta import random_map
from xaikit.models import pretrained, zoo
from xaikit.report import (
    above,
    below,
    exact,
    fast_mode,
    figure,
    recorded,
    result,
    table,
)
from xaikit.tolerance import confidence_interval

FAST = fast_mode()
N_IMAGES = 24 if FAST else 64
STEP = 128 if FAST else 64  # pixels per deletion step: 2 rows (fast) or 1 row (as the paper)

# %% [markdown]
# ## 10.1 One model, six maps and a control
#
# The `shapes` zoo CNN of lessons 3-6 (one shape on clutter, 64 x 64 pixels), its test images
# and six maps of the predicted class: Grad-CAM, occlusion, LIME, RISE (lesson 3-6), the
# gradient (lesson 2) and integrated gradients (lesson 4). The **random map** (uniform noise) is
# the control: a metric that does not separate a method from it gives no evidence.

# %%
model = zoo("shapes")
test = load("shapes", split="test")
images = test.images[:N_IMAGES]
surrogate = lime_details(model, images, n_samples=1000)
maps = {
    "Grad-CAM": grad_cam(model, images),
    "occlusion": occlusion(model, images, patch=8, stride=4),
    "LIME": surrogate.maps,
    "RISE": rise(model, images, n_masks=500 if FAST else 1000),
    "gradient": saliency(model, images),
    "IG": integrated_gradients(model, images, steps=16 if FAST else 64),
    "random": random_map(model, images, seed=0),
}
print(f"{N_IMAGES} images, maps: {list(maps)}")

# %% [markdown]
# LIME's map is constant on each superpixel, so it orders whole regions; pixel noise orders
# scattered pixels. A control at LIME's own granularity keeps LIME's superpixels and shuffles
# their weights: it asks whether LIME's *order* of its regions carries information.

# %%
shuffler = np.random.default_rng(0)
maps["LIME, weights shuffled"] = np.stack([shuffler.permutation(weights)[segments]
                                           for weights, segments in zip(surrogate.weights,
                                                                        surrogate.segments)])

# %% [markdown]
# ## 10.2 Deletion and insertion
#
# Order the pixels by the map. **Deletion** replaces the most relevant ones, $k$ per step, and
# records the probability of the explained class; **insertion** starts from a blurred copy and
# puts the most relevant pixels back. With $x^{(f)}$ the image after a fraction $f$ of its
# pixels has been deleted (inserted),
#
# $$\text{deletion} = \int_0^1 p_c\big(x^{(f)}\big)\,df \quad (\text{lower is better}), \qquad
#   \text{insertion} = \int_0^1 p_c\big(\tilde x^{(f)}\big)\,df \quad (\text{higher is better}),$$
#
# by the trapezoid rule. The paper deletes $k = 224$ pixels per step (one row of a 224-pixel
# image) to 0 *in the normalised input* (the ImageNet mean colour) and inserts into an image
# blurred by an 11 x 11 Gaussian with $\sigma = 5$. Here: one row of 64 pixels per step (two in
# fast mode), deleted pixels take the image's mean colour (`baseline="mean"`), and insertion
# starts from the paper's blur (`baseline="petsiuk_blur"`).
# All images and steps run through the network in shared batches.

# %%
curves = {name: (deletion(model, images, m, pixels_per_step=STEP),
                 insertion(model, images, m, pixels_per_step=STEP)) for name, m in maps.items()}
shown = 0
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
axes[0].imshow(images[shown])
axes[0].set_title(test.class_names[test.labels[shown]])
axes[0].axis("off")
for name, (dele, ins) in curves.items():
    if name == "LIME, weights shuffled":
        continue
    style = dict(color="grey", linestyle="--") if name == "random" else {}
    axes[1].plot(dele.fractions[shown], dele.scores[shown], label=name, **style)
    axes[2].plot(ins.fractions[shown], ins.scores[shown], label=name, **style)
for ax, title in zip(axes[1:], ("deletion", "insertion")):
    ax.set(title=title, xlabel="fraction of pixels", ylabel="p(class)")
axes[2].legend(fontsize=7)
figure(fig, "fig_deletion_insertion_curves",
       caption="Deletion and insertion curves of one test image for six methods and the random "
               "control (after Petsiuk et al. 2018, Fig. 4)")

# %% [markdown]
# The table has the format of RISE's Table 1 (ResNet-50 on ImageNet; the paper's values beside
# ours, shown, not asserted: our network, images and step size differ). Each entry is the mean
# area over the images with a 95 % confidence interval.

# %%
PAPER = {"Grad-CAM": (0.123, 0.677), "LIME": (0.122, 0.694), "RISE": (0.108, 0.727)}


def interval(values):
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    return f"{values.mean():.3f} ± {half:.3f}"


rows = [{"method": name, "deletion (here)": interval(dele.auc),
         "insertion (here)": interval(ins.auc),
         "deletion (paper, ResNet-50)": PAPER.get(name, ("—", "—"))[0],
         "insertion (paper, ResNet-50)": PAPER.get(name, ("—", "—"))[1]}
        for name, (dele, ins) in curves.items()]
table(rows, "table1_deletion_insertion",
      caption="Deletion (lower is better) and insertion (higher is better) areas, mean ± 95 % CI "
              "over images, next to Petsiuk et al. (2018), Table 1 (ResNet-50)")

# %% [markdown]
# The checks. Tier 1: every curve starts at the unperturbed image, so all methods share their
# first point. Tier 2: the kit's own areas per method. Tier 3, the claim a faithfulness metric
# rests on: every method's deletion area is *below* the random control's and its insertion area
# *above* it, with a confidence interval over images of the per-image differences.
#
# For LIME's insertion the control is its shuffled twin: scattered pixels put back into a
# blurred image restore its texture everywhere at once, so pixel noise is a strong inserter,
# stronger than any map of whole regions that is not informative. Comparing with the shuffled
# superpixels removes that difference of granularity.

# %%
starts = np.stack([dele.scores[:, 0] for dele, _ in curves.values()])
result("curves_share_their_start", float(np.abs(starts - starts[0]).max()), paper="by definition",
       check=exact(0.0, atol=1e-6))
for name, (dele, ins) in curves.items():
    if name in ("random", "LIME, weights shuffled"):
        continue
    random_deletion = curves["random"][0].auc
    random_insertion = curves["LIME, weights shuffled" if name == "LIME" else "random"][1].auc
    key = name.lower().replace("-", "_")
    result(f"deletion_auc_{key}", float(dele.auc.mean()), paper=PAPER.get(name, (None,))[0],
           check=recorded(rtol=0.05))
    result(f"insertion_auc_{key}", float(ins.auc.mean()), paper=PAPER.get(name, (None, None))[1],
           check=recorded(rtol=0.05))
    result(f"deletion_{key}_below_random", dele.auc - random_deletion,
           paper="faithful maps delete faster than random", check=below(0.0))
    if name != "LIME":
        result(f"insertion_{key}_above_random", ins.auc - random_insertion,
               paper="faithful maps insert faster than random", check=above(0.0))

# %% [markdown]
# LIME's insertion is the exception: in fast mode its areas can be within the noise of *both*
# controls (see the table), so the claim "insertion above random" is not asserted for LIME on
# this model; with full mode's images LIME separates from both. Its deletion against its
# shuffled twin is as fragile: which regions are deleted first matters less when whole regions
# go at once, and on some trainings of the model (another CPU's kernels sum in another order
# and train another model) the interval of the difference crosses zero with 24 images. Its
# deletion against the random map is asserted above, as for every method. We record the
# verdicts against the controls per mode instead of asserting them (tier 2): each is computed
# from the 95 % interval of the per-image differences ("better" or "worse" when it excludes 0,
# "no evidence" otherwise), and a change that moves a verdict is noticed.

# %%
def verdict(differences):
    _, low, high = confidence_interval(differences)
    return "better" if low > 0 else "worse" if high < 0 else "no evidence"


lime_insertion = {control: verdict(curves["LIME"][1].auc - curves[control][1].auc)
                  for control in ("random", "LIME, weights shuffled")}
result("lime_insertion_vs_controls", lime_insertion,
       paper="better than random (RISE's claim for every method)",
       check=recorded())
result("lime_deletion_vs_shuffled_twin",
       verdict(curves["LIME, weights shuffled"][0].auc - curves["LIME"][0].auc),
       note="'better': LIME deletes the class faster than its shuffled superpixels",
       check=recorded())

# %% [markdown]
# ## 10.3 The fill is part of the metric
#
# Why the mean colour rather than black? The paper's 0 is taken *after* ImageNet normalisation,
# where it is the data set's mean colour. Black dots scattered over the clutter of these images
# can be out of distribution for the network, and then the class probability falls whichever
# pixels are blacked, informative or not. The table puts the two fills side by side for
# Grad-CAM and the random control; lesson 11 measures how whole rankings move with the fill.

# %%
black = {name: deletion(model, images, maps[name], pixels_per_step=STEP, baseline="black").auc
         for name in ("Grad-CAM", "random")}
rows = [{"baseline": baseline, "Grad-CAM": f"{gc.mean():.3f}", "random": f"{rnd.mean():.3f}",
         "Grad-CAM − random": interval(gc - rnd)}
        for baseline, gc, rnd in (("mean colour", curves["Grad-CAM"][0].auc, curves["random"][0].auc),
                              ("black", black["Grad-CAM"], black["random"]))]
table(rows, "deletion_fill", caption="Deletion areas with two baselines (mean ± 95 % CI)")
result("deletion_auc_random_black_fill", float(black["random"].mean()), check=recorded(rtol=0.05))
result("deletion_auc_random_mean_fill", float(curves["random"][0].auc.mean()),
       check=recorded(rtol=0.05))

# %% [markdown]
# ## 10.4 The same protocol on an ImageNet CNN
#
# Closer to the paper's setting: EfficientNet-Lite0 with its ImageNet weights (lesson 7's
# offline model) on the photographs that show an ImageNet class, at 224 pixels. There are only
# a few photographs, so this table illustrates the protocol; its numbers are recorded (tier 2),
# not tested against the control. The methods are those of the paper's table, Grad-CAM, LIME and
# RISE, with the control, RISE and LIME with the same budget of 300 forward passes per image; fast
# mode: one photograph, Grad-CAM, RISE and the control.

# %%
photos = imagenet_photos()
net = pretrained("efficientnet-lite0")
photo_images = photos.images[:1] if FAST else photos.images
PHOTO_STEP = 224 * 16  # 14 steps instead of the paper's 224
photo_maps = {
    "Grad-CAM": grad_cam(net, photo_images),
    "RISE": rise(net, photo_images, n_masks=100 if FAST else 300, batch_size=32),
    "random": random_map(net, photo_images, seed=0),
}
if not FAST:  # fast mode: two of the paper's methods and the control
    photo_maps["LIME"] = lime(net, photo_images, n_samples=300)
photo_rows = []
for name, m in photo_maps.items():
    dele = deletion(net, photo_images, m, pixels_per_step=PHOTO_STEP, batch_size=32)
    ins = insertion(net, photo_images, m, pixels_per_step=PHOTO_STEP, batch_size=32)
    photo_rows.append({"method": name, "deletion (here)": f"{dele.auc.mean():.3f}",
                       "insertion (here)": f"{ins.auc.mean():.3f}",
                       "deletion (paper)": PAPER.get(name, ("—", "—"))[0],
                       "insertion (paper)": PAPER.get(name, ("—", "—"))[1]})
    if name != "random":
        key = name.lower().replace("-", "_")
        result(f"effnet_insertion_{key}", float(ins.auc.mean()), check=recorded(rtol=0.05))
table(photo_rows, "table1_efficientnet",
      caption=f"Deletion / insertion areas of EfficientNet-Lite0 on {len(photo_images)} ImageNet "
              f"photographs ({PHOTO_STEP} pixels per step), next to RISE's Table 1 (ResNet-50)")

# %% [markdown]
# ### Exercise 1: the deletion area
#
# Write `deletion_auc(model, image, saliency, target, pixels_per_step)` for one image: set the
# pixels to 0 in order of decreasing saliency, `pixels_per_step` at a time (the last step may
# delete fewer), read the probability of `target` after every step (the model ends in a
# softmax) and return the trapezoidal area over the fraction of pixels deleted. Put all steps'
# images in one batch.

# %%
def deletion_auc(model, image, saliency, target, pixels_per_step):
    raise NotImplementedError("your code here")


check("10.deletion_auc", deletion_auc)

# %% [markdown]
# ## 10.5 Region perturbation, AOPC and ABPC
#
# Samek et al. perturb $9 \times 9$ regions (here $4 \times 4$ on 64 pixels) by uniform noise, in
# order of summed relevance: most relevant first (MoRF) or least relevant first (LeRF). The area
# over the MoRF curve of the classifier's score $f$ (the logit),
#
# $$\mathrm{AOPC} = \frac{1}{L+1}\Big\langle \sum_{k=0}^{L} f\big(x^{(0)}_{\mathrm{MoRF}}\big)
#   - f\big(x^{(k)}_{\mathrm{MoRF}}\big) \Big\rangle_{p(x)},$$
#
# is larger for a better map; their Fig. 4 finds LRP above deconvolution above sensitivity
# (the gradient) on ImageNet, SUN397 and MIT Places. ABPC (Schulz et al., ICLR 2020) is the area
# between the LeRF and MoRF curves. $L = 100$ steps, as in the paper (50 in fast mode).

# %%
STEPS = 50 if FAST else 100  # L (the paper: 100)
samek_images = test.images[:64]  # both modes: the logit varies a lot from image to image
samek = {"LRP": lrp(model, samek_images), "deconvnet": deconvnet(model, samek_images),
         "sensitivity": saliency(model, samek_images),
         "random": random_map(model, samek_images, seed=0)}
samek_curves = {name: {order: region_perturbation(model, samek_images, m, order=order,
                                                  steps=STEPS)
                       for order in ("morf", "lerf")} for name, m in samek.items()}
aopc_values = {name: (c["morf"].scores[:, :1] - c["morf"].scores).mean(axis=1)
               for name, c in samek_curves.items()}
abpc_values = {name: (c["lerf"].scores - c["morf"].scores).mean(axis=1)
               for name, c in samek_curves.items()}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for name, c in samek_curves.items():
    drop = (c["morf"].scores[:, :1] - c["morf"].scores).mean(axis=0)
    axes[0].plot(np.arange(drop.size), np.cumsum(drop) / np.arange(1, drop.size + 1), label=name)
axes[0].set(xlabel="perturbation steps L", ylabel="AOPC (logit)", title="MoRF")
axes[0].legend(fontsize=8)
axes[1].bar(list(abpc_values), [v.mean() for v in abpc_values.values()],
            yerr=[1.96 * v.std(ddof=1) / np.sqrt(len(v)) for v in abpc_values.values()])
axes[1].set(ylabel="ABPC (logit)", title="LeRF − MoRF")
figure(fig, "fig_aopc_abpc",
       caption="AOPC as a function of the number of perturbation steps (after Samek et al. "
               "2017, Fig. 4) and ABPC, mean ± 95 % CI over images")
# %% [markdown]
# The two areas above come from the curves, by the equations. The kit's `aopc` and `abpc`
# compute the same from scratch (tier 1, on the first four images: each image is perturbed
# independently of the others, so a subset gives the same numbers).

# %%
few = slice(0, 4)
result("aopc_is_the_mean_morf_drop",
       float(np.abs(aopc(model, samek_images[few], samek["LRP"][few], steps=STEPS)
                    - aopc_values["LRP"][few]).max()), check=exact(0.0, atol=1e-4))
result("abpc_is_lerf_minus_morf",
       float(np.abs(abpc(model, samek_images[few], samek["LRP"][few], steps=STEPS)
                    - abpc_values["LRP"][few]).max()), check=exact(0.0, atol=1e-4))

# %% [markdown]
# The claim: each method's AOPC is above the random map's (tier 3, per-image differences). The
# logit varies much more from image to image than a probability, so both modes perturb 64
# images (cheap on this CNN; the other sections of fast mode use 24), and fast mode has half
# the steps: its intervals are at 80 % confidence, full mode's at 95 %.

# %%
LEVEL = 0.8 if FAST else 0.95
for name in ("LRP", "deconvnet"):
    result(f"aopc_{name.lower()}_above_random", aopc_values[name] - aopc_values["random"],
           paper="Samek et al.: LRP and deconvnet above random", check=above(0.0, level=LEVEL))
for name in ("LRP", "deconvnet", "sensitivity"):
    result(f"aopc_{name.lower()}", float(aopc_values[name].mean()), check=recorded(rtol=0.05))
result("aopc_sensitivity_vs_random", verdict(aopc_values["sensitivity"] - aopc_values["random"]),
       paper="Samek et al.: sensitivity is the weakest of the three, close to random",
       check=recorded())

# %% [markdown]
# ### Exercise 2: MoRF region perturbation
#
# Write `morf_curve(model, image, saliency, target, patch, steps)`: tile the image with
# `patch` x `patch` squares from the top-left corner (the last ones narrower when `patch` does
# not divide the size), order them by their summed saliency, set the first k squares to 0 for
# k = 0, ..., min(steps, number of squares), and return the logit of `target` (the model
# outputs logits) for each k.

# %%
def morf_curve(model, image, saliency, target, patch, steps):
    raise NotImplementedError("your code here")


check("10.morf_curve", morf_curve)

# %% [markdown]
# ## 10.6 Remove and retrain: ROAR and KAR
#
# A deleted pixel is evidence removed *and* an input the model never saw. Hooker et al. remove
# the top $t$ of each training and test image's pixels, replaced by the training set's
# per-channel mean, **retrain from scratch** and measure test accuracy (ROAR); KAR replaces the
# bottom $t$. A good ranking makes ROAR accuracy fall faster, and KAR accuracy fall slower, than
# a random ranking. They find that the gradient, integrated gradients and guided backprop do not
# beat random, while the ensembles SmoothGrad² and VarGrad do.
#
# Here the digits zoo model ranks the pixels of the digits images and each point retrains the
# digits recipe from scratch. The retraining budget: the zoo's *fast* digits recipe (2 epochs)
# on the first 600 training images, all trained on for a fixed schedule (no early stopping, as
# Hooker et al. train), the smallest budget whose unmodified retraining stays within five points
# of the zoo model, at a few CPU-seconds per retraining (`benchmarks/bench_retraining.py`
# measures the budgets and the grid): the full grid of six methods x five fractions x ROAR and
# KAR is 60 retrainings plus the random and unmodified ones. The retrainings of one call are
# spread over one worker process per core and trained side by side in each
# (`xaikit.models.train_stacked`), each branch as it would train alone, so the results do not
# depend on the number of cores. Integrated gradients take 25 steps, the default of the saliency
# library the authors' code calls. Fast mode: 150 images, two methods (one that should beat random, one that
# should not) and one fraction, t = 0.7 (eight retrainings); the unmodified model is weaker
# there, but every check below keeps a clear margin. One training seed per point (Hooker et
# al.: five). The retrained models are not kept: each result (which test images the model gets
# right) is saved as it completes, so an interrupted run resumes and a second run retrains
# nothing.
#
# First, the protocol exactly as Hooker et al. describe it, with the mean as the replacement
# (three of the fractions in full mode: this table only shows what goes wrong).

# %%
digits_model = zoo("digits")
train_digits, test_digits = load("digits", split="train"), load("digits", split="test")
N_TRAIN = 150 if FAST else 600
SAMPLES = 8 if FAST else 15
FRACTIONS = (0.7,) if FAST else (0.1, 0.3, 0.5, 0.7, 0.9)


def smoothgrad_squared(model, images, targets=None, **options):
    return smoothgrad(model, images, targets, squared=True, n_samples=SAMPLES, **options)


def vargrad(model, images, targets=None, **options):
    return smoothgrad(model, images, targets, vargrad=True, n_samples=SAMPLES, **options)


def smoothgrad_mean(model, images, targets=None, **options):
    return smoothgrad(model, images, targets, n_samples=SAMPLES, **options)


def integrated_gradients_25(model, images, targets=None, **options):
    return integrated_gradients(model, images, targets, steps=25, **options)


setting = dict(labels=train_digits.labels[:N_TRAIN], test=test_digits, recipe="digits", fast=True,
               fractions=FRACTIONS)
train_images = train_digits.images[:N_TRAIN]
leaky = roar(digits_model, train_images, smoothgrad_squared, imputation="mean",
             **setting | {"fractions": FRACTIONS[::2]})
rows = [{"t": t, "SmoothGrad² (mean fill)": f"{a:.3f}", "random (mean fill)": f"{r:.3f}"}
        for t, a, r in zip(leaky.fractions, leaky.accuracy["method"][:, 0],
                           leaky.accuracy["random"][:, 0])]
table(rows, "roar_mean_fill", caption="ROAR with Hooker et al.'s mean replacement on digits: "
      f"test accuracy (unmodified retraining: {leaky.base[0]:.3f})")

# %% [markdown]
# On digits the method's ROAR accuracy stays *above* the random ranking's. The removed pixels
# are the strokes, and grey strokes on a black background still draw the digit: the shape of
# the removed set leaks the class (Rong et al., ICML 2022). Their remedy is to impute removed
# pixels from their neighbours (noisy linear imputation, `imputation="linear"`), which leaves no
# drawable silhouette. The rest of this section uses it.

# %%
def advantage_over_random(res):
    """Per test image and fraction: the random-ranking model right minus the method's."""
    return (res.correct["random"].astype(float) - res.correct["method"]).ravel()


result("roar_mean_fill_leaks_the_class", -advantage_over_random(leaky),
       paper="(Rong et al. 2022: the removal mask leaks the label)", check=above(0.0),
       note="SmoothGrad² model right minus random model right, mean replacement")

# %%
hooker = {"gradient": "gradient", "SmoothGrad²": smoothgrad_squared}
if not FAST:
    hooker |= {"VarGrad": vargrad, "IG": integrated_gradients_25,
               "guided backprop": "guided_backprop", "SmoothGrad": smoothgrad_mean}
retrained = {name: (roar(digits_model, train_images, method, imputation="linear", **setting),
                    kar(digits_model, train_images, method, imputation="linear", **setting))
             for name, method in hooker.items()}

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for ax, mode in zip(axes, (0, 1)):
    for name, results in retrained.items():
        res = results[mode]
        ax.plot([0, *res.fractions], [res.base.mean(), *res.accuracy["method"].mean(axis=1)],
                marker="o", label=name)
    res = next(iter(retrained.values()))[mode]
    ax.plot([0, *res.fractions], [res.base.mean(), *res.accuracy["random"].mean(axis=1)],
            color="grey", linestyle="--", marker="x", label="random")
    ax.set(title=f"{res.mode.upper()}, noisy linear imputation",
           xlabel="fraction of pixels replaced", ylabel="test accuracy")
axes[1].legend(fontsize=8)
figure(fig, "fig_roar_kar",
       caption="Test accuracy after retraining with the top (ROAR) or bottom (KAR) pixels "
               "replaced, against a random ranking (after Hooker et al. 2019)")

# %% [markdown]
# Which rankings beat random here? For each method, the ROAR accuracy of the random-ranking
# model minus the method's, per test image over all fractions (positive: the method removed
# more evidence than random), with its 95 % interval over the test images (one training seed).

# %%
rows = []
for name, (roar_result, kar_result) in retrained.items():
    gap = advantage_over_random(roar_result)
    half = 1.96 * gap.std(ddof=1) / np.sqrt(len(gap))
    rows.append({"method": name, "ROAR: random − method": f"{gap.mean():+.3f} ± {half:.3f}",
                 "ROAR verdict": verdict(gap),
                 "KAR: method − random": interval(-advantage_over_random(kar_result))})
    key = name.lower().replace("²", "2").replace(" ", "_")
    result(f"roar_{key}_mean_accuracy", float(roar_result.accuracy["method"].mean()),
           check=recorded(rtol=0.05))
    result(f"kar_{key}_mean_accuracy", float(kar_result.accuracy["method"].mean()),
           check=recorded(rtol=0.05))
table(rows, "table_roar_vs_random",
      caption="ROAR and KAR against the random ranking, noisy linear imputation (mean ± 95 % CI "
              "over test images x fractions); Hooker et al.: only SmoothGrad² and VarGrad beat "
              "random")

# %% [markdown]
# The claim we assert: ROAR's random-ranking curve stays above SmoothGrad²'s (tier 3, CI over
# test images, fractions and training seeds: SmoothGrad² and random are retrained with a second
# seed in full mode, one seed in fast mode). Hooker et al.'s full pattern — which rankings beat
# random under ROAR (the ensembles SmoothGrad² and VarGrad) and which do not (the gradient, IG,
# guided backprop and plain SmoothGrad) — is computed, each verdict from the interval in the
# table, shown beside theirs and recorded (tier 2), not asserted: on the digits CNN with one
# retraining per point it is not theirs for every method (compare the two).

# %%
CLAIM_SEEDS = (0,) if FAST else (0, 1)
seeded = roar(digits_model, train_images, smoothgrad_squared, imputation="linear",
              seeds=CLAIM_SEEDS, **setting)  # seed 0 is read back from the run above
result("roar_random_above_smoothgrad2", advantage_over_random(seeded),
       paper="SmoothGrad² and VarGrad fall below random", check=above(0.0),
       note=f"random model right minus SmoothGrad² model right, per test image x fraction x "
            f"training seed ({len(CLAIM_SEEDS)} seed(s))")
HOOKER_BEATS_RANDOM = {"gradient": False, "SmoothGrad²": True, "VarGrad": True, "IG": False,
                       "guided backprop": False, "SmoothGrad": False}
beats_random = {name: verdict(advantage_over_random(roar_result)) == "better"
                for name, (roar_result, _) in retrained.items()}
result("roar_beats_random_pattern", beats_random,
       paper="only SmoothGrad² and VarGrad beat random: "
             + ", ".join(f"{name} {HOOKER_BEATS_RANDOM[name]}" for name in retrained),
       check=recorded())

# %% [markdown]
# > **Paper vs here.** Petsiuk et al.: ResNet-50 and VGG16 on ImageNet, 224 pixels, 224 pixels
# > per step, deletion to 0 in the normalised input (the mean colour), insertion from an
# > 11 x 11, $\sigma = 5$ blur; here a 64-pixel shapes CNN with one row (two in fast mode) per
# > step, and EfficientNet-Lite0 on the photographs (one in fast mode) with sixteen rows per step
# > (for time) and the paper's three methods, the image's mean colour as the deletion fill and the
# > paper's blur. Their absolute areas are shown, not asserted. Asserted: every method beats the
# > random map on deletion, and every method but LIME on insertion; LIME's insertion control is
# > its own superpixels with shuffled weights, because pixel noise restores texture everywhere
# > at once and so favours itself on insertion over any map of whole regions, and LIME's
# > insertion, like its deletion against the shuffled twin, can be within the noise in fast
# > mode (the verdicts are recorded). Samek et al.: 9 x 9 regions on 224-pixel images,
# > L = 100; here 4 x 4 regions on 64 pixels, 64 images, L = 100 (50 in fast mode),
# > uniform noise, the logit. Hooker et al.: ResNet-50 on ImageNet, Food-101 and Birdsnap, five
# > retrainings per point, mean replacement; here the digits CNN, one retraining per point with
# > the fast recipe. With their mean replacement the SmoothGrad² ranking stays *above* random on
# > digits (the removal mask draws the digit); with Rong et al.'s noisy linear imputation it
# > falls below random, as Hooker et al. report (the table shows which other methods do).
#
# ## Summary
#
# * Deletion and insertion score a map by how fast the class probability falls (rises) when its
#   top pixels are removed (inserted); a random map is the floor every method must clear.
# * The fill value is part of the metric: an out-of-distribution fill measures the model's
#   surprise, not the evidence.
# * AOPC and ABPC summarise Samek's MoRF/LeRF curves; ROAR and KAR retrain so that removed
#   pixels are no longer surprising, at the cost of one training per point.
#
# ## References
#
# * V. Petsiuk, A. Das, K. Saenko. RISE: Randomized Input Sampling for Explanation of Black-box
#   Models. BMVC 2018, arXiv:1806.07421.
# * W. Samek, A. Binder, G. Montavon, S. Lapuschkin, K.-R. Müller. Evaluating the Visualization
#   of What a Deep Neural Network Has Learned. IEEE TNNLS 28(11), 2017, arXiv:1509.06321.
# * K. Schulz, L. Sixt, F. Tombari, T. Landgraf. Restricting the Flow: Information Bottlenecks for
#   Attribution. ICLR 2020, arXiv:2001.00396.
# * Y. Rong, T. Leemann, V. Borisov, G. Kasneci, E. Kasneci. A Consistent and Efficient
#   Evaluation Strategy for Attribution Methods. ICML 2022, arXiv:2202.00449.
# * M. T. Ribeiro, S. Singh, C. Guestrin. "Why Should I Trust You?": Explaining the Predictions
#   of Any Classifier. KDD 2016, arXiv:1602.04938.
# * S. Hooker, D. Erhan, P.-J. Kindermans, B. Kim. A Benchmark for Interpretability Methods in
#   Deep Neural Networks. NeurIPS 2019, arXiv:1806.10758.
# * S. Bach, A. Binder, G. Montavon, F. Klauschen, K.-R. Müller, W. Samek. On Pixel-Wise
#   Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation.
#   PLoS ONE 10(7), 2015.
#
# ## Exercises
#
# 1. `deletion_auc` (above).
# 2. `morf_curve` (above).
# 3. Run `deletion` with `baseline="petsiuk_blur"` and `baseline="uniform_noise"`. Which methods
#    change rank?
# 4. Compute `road` (noisy linear imputation, Rong et al. 2022) for Grad-CAM and the random map
#    with MoRF and LeRF. Do the two orders now agree on which map is better?
