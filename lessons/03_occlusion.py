# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 3. Occlusion sensitivity
#
# The simplest way to ask a classifier where it looks needs no gradient and no knowledge of the
# network at all: hide part of the image and see whether the answer changes. Zeiler & Fergus
# ("Visualizing and Understanding Convolutional Networks", ECCV 2014, arXiv:1311.2901, Sec. 4.2)
# slid a grey square over ImageNet photos and recorded, for every position of the square, the
# activity of a feature map, the probability of the correct class and the label the network
# predicted. When the square covers the object, the probability collapses; when it covers
# background, nothing happens. The survey of Zhang et al. (2019) calls occlusion "the most
# consistent with human cognition", and Oramas' lecture lists it first among *input
# modification* methods.
#
# **You will learn** the occlusion equation and the choices it hides (patch, stride, fill, how
# overlapping squares are combined), how to compute it with one batched forward pass, and how
# to read the four panels of Zeiler & Fergus' Fig. 7.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from xaikit import viz
from xaikit.attribution import occlusion
from xaikit.attribution.perturbation import occlusion_boxes
from xaikit.data import load
from xaikit.exercises import check
from xaikit.models import accuracy as test_accuracy
from xaikit.models import zoo, zoo_info
from xaikit.report import above, below, exact, fast_mode, figure, recorded, result, table

FAST = fast_mode()

# %% [markdown]
# ## 3.1 The data and the model
#
# The `shapes` test set: one shape of five classes on a cluttered background, with the shape's
# mask from the generator. The zoo model is the kit's small VGG-style CNN.

# %%
test = load("shapes", split="test")
model = zoo("shapes")
names = test.class_names
accuracy = test_accuracy(model, test)
print(f"{len(test)} test images {test.images.shape[1:]}, classes {names}, accuracy {accuracy:.1%}")
result("shapes_test_accuracy", accuracy, note="zoo model 'shapes' on its test split", check=recorded(rtol=0.03))

# %% [markdown]
# ## 3.2 The equation
#
# Let $S(x)$ be the score of the target class and $x_p$ the image with a $k \times k$ square of
# *fill* placed at position $p$. Positions are a grid with step $s$ (the *stride*). The paper
# plots one value per position; to get a map the size of the image we give each pixel $i$ the
# **mean over the squares $P(i)$ that cover it**:
#
# $$D(i) = \frac{1}{|P(i)|} \sum_{p \in P(i)} \big(S(x) - S(x_p)\big).$$
#
# A high $D(i)$ means "hiding this region lowers the score": evidence. The paper does not fix
# $k$, $s$ or the fill ("a grey square"), so we state ours: **$k = 8$ pixels, $s = 4$, fill
# grey (0.5)** on 64-pixel images, i.e. the square is 1/8 of the image side, like a 28-pixel
# square on a 224-pixel ImageNet image.
#
# The from-scratch version is a few lines: build all occluded copies as **one batch**, call the
# model once, and spread each drop over the pixels its square covers.

# %%
PATCH, STRIDE, FILL = 8, 4, 0.5
image, target = test.images[0], int(test.labels[0])
boxes = occlusion_boxes(*image.shape[:2], PATCH, STRIDE)             # (P, H, W), 1 in the square
occluded = image * (1 - boxes[..., None]) + FILL * boxes[..., None]  # (P, H, W, C): one batch
from_scratch = model.predict(np.concatenate([image[None], occluded]), verbose=0)[:, target]
# (the kit explains logits by default; here we use the model's probabilities for readability)
drops = from_scratch[0] - from_scratch[1:]
by_hand = np.tensordot(drops, boxes, axes=1) / boxes.sum(axis=0)
print(f"{len(boxes)} positions = {len(boxes)} forward passes (+1 for the unoccluded image)")

# %% [markdown]
# The kit's `occlusion` does the same with the logit by default (`on="logits"`); asked for the
# probability score it must agree with our lines to float precision:

# %%
kit = occlusion(model, image[None], target, patch=PATCH, stride=STRIDE, baseline="grey",
                on="probabilities")[0]
gap = float(np.abs(kit - by_hand).max())
print("max |kit - by hand| =", gap)
result("occlusion_kit_vs_scratch", gap, paper="same definition", check=exact(0.0, atol=1e-5))

# %% [markdown]
# ## 3.3 Zeiler & Fergus, Fig. 7 on our data
#
# The paper's panels, for each image: (a) the image, (b) the total activation of the strongest
# feature map of the last convolutional layer as a function of the square's position, (d) the
# probability of the correct class, (e) the most probable label. Panel (c), the deconvnet
# projection of that feature map back to the pixels, is about what a single unit sees: lesson 12
# (units) projects feature maps that way; the deconvnet's backward rule itself is in lesson 4.
# We add the default map, the score drop.

# %%
n_show = 3 if FAST else 5
index = np.array([np.flatnonzero(test.labels == c)[0] for c in range(len(names))])[:n_show]
images, labels = test.images[index], test.labels[index]
start = time.perf_counter()
panels = {
    "(b) strongest map, last_conv": occlusion(model, images, labels, patch=PATCH, stride=STRIDE,
                                              panel="activation", layer="last_conv"),
    "(d) p(correct class)": occlusion(model, images, labels, patch=PATCH, stride=STRIDE,
                                      panel="probability"),
    "(e) most probable label": occlusion(model, images, labels, patch=PATCH, stride=STRIDE,
                                         panel="label"),
    "score drop (logit)": occlusion(model, images, labels, patch=PATCH, stride=STRIDE),
}
seconds = time.perf_counter() - start

fig, axes = plt.subplots(len(images), 5, figsize=(10, 2.1 * len(images)), squeeze=False)
for row, (img, label) in enumerate(zip(images, labels)):
    axes[row, 0].imshow(img)
    axes[row, 0].set_ylabel(names[label], fontsize=9)
    for col, (title, maps) in enumerate(panels.items(), start=1):
        cmap = "tab10" if "label" in title else "jet"
        shown = axes[row, col].imshow(maps[row], cmap=cmap,
                                      vmin=0 if "label" in title else None,
                                      vmax=9 if "label" in title else None)
        if "label" not in title:
            fig.colorbar(shown, ax=axes[row, col], fraction=0.046)
        axes[row, col].set_title(title if row == 0 else "", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
label_image = axes[0, list(panels).index("(e) most probable label") + 1].images[0]
seen = np.unique(panels["(e) most probable label"]).astype(int)
fig.legend(handles=[Patch(color=label_image.cmap(label_image.norm(c)), label=names[c]) for c in seen],
           title="colours of panel (e)", loc="upper center", bbox_to_anchor=(0.5, 0.0),
           ncol=min(len(seen), 5))
figure(fig, "fig7_occlusion_panels",
       caption=f"Zeiler & Fergus (2014) Fig. 7 on shapes: grey {PATCH}x{PATCH} square, stride "
               f"{STRIDE}; panel values averaged over the squares covering each pixel")

labels_seen = {names[v] for v in np.unique(panels["(e) most probable label"]).astype(int)}
print("labels predicted somewhere in panel (e):", sorted(labels_seen))

# %% [markdown]
# ## 3.4 Does the probability drop on the object?
#
# Zeiler & Fergus' findings: "the probability of the correct class drops significantly when the
# object is occluded" (panel d), and the strongest feature map's activity drops when the square
# covers the part of the image it responds to (panel b). The generator's masks let us test both
# on many images. Per image we compare the mean probability with the square on the object and
# on the background, and ask whether the *minimum* of each panel falls on the object more often
# than chance: a position picked at random lands on the object with probability equal to the
# object's share of the image, so that share is subtracted. Each check asserts a 95 %
# confidence interval over the images (12 in fast mode, 100 in full mode; the thresholds are
# the same).

# %%
n_eval = 12 if FAST else 100
subset = test.subset(np.arange(n_eval))
evaluated = {name: occlusion(model, subset.images, subset.labels, patch=PATCH, stride=STRIDE,
                             panel=output, layer=layer)
             for name, output, layer in (("probability", "probability", None),
                                         ("feature map", "activation", "last_conv"))}
masks, area = subset.masks, subset.masks.mean(axis=(1, 2))


def minimum_on_object(maps):
    """Per image: 1 when the map's minimum lies on the object, else 0."""
    return masks.reshape(n_eval, -1)[np.arange(n_eval), maps.reshape(n_eval, -1).argmin(axis=1)]


on_object = np.array([m[k].mean() for m, k in zip(evaluated["probability"], masks)])
off_object = np.array([m[~k].mean() for m, k in zip(evaluated["probability"], masks)])

# %%
table([{"images": n_eval, "object's share of the image": f"{area.mean():.1%}",
        "(d) minimum on the object": f"{minimum_on_object(evaluated['probability']).mean():.0%}",
        "(b) minimum on the object": f"{minimum_on_object(evaluated['feature map']).mean():.0%}",
        "mean p, square on object": f"{on_object.mean():.3f}",
        "mean p, square on background": f"{off_object.mean():.3f}"}],
      "occlusion_on_object", caption="Occlusion panels (b) and (d) against the object masks")
result("occlusion_probability_drops_on_object", on_object - off_object, check=below(0.0),
       paper="p(correct class) drops significantly when the object is occluded (Fig. 7 d)",
       note="per image: mean p with the square on the object minus on the background")
result("occlusion_probability_minimum_on_object",
       minimum_on_object(evaluated["probability"]) - area, check=above(0.0),
       note="per image: [argmin of panel (d) on the object] minus the object's share (chance)")
result("occlusion_feature_map_minimum_on_object",
       minimum_on_object(evaluated["feature map"]) - area, check=above(0.0),
       paper="the strongest feature map's activity drops when its region is covered (Fig. 7 b)",
       note="per image: [argmin of panel (b) on the object] minus the object's share (chance)")
result("occlusion_min_on_object", float(minimum_on_object(evaluated["probability"]).mean()),
       check=recorded(rtol=0.0, atol=0.05),
       note="share of images whose panel-(d) minimum is on the object")
print(f"occlusion_seconds_per_image = {seconds / len(images):.4g}")

# %% [markdown]
# ## 3.5 Patch size and fill are choices
#
# The map depends on the square: a small one finds small parts but cannot hide a whole object
# (the network still sees the rest of it); a large one gives blobs. The fill matters too: grey
# is "no information" only if grey is unusual in the data; blurring keeps low frequencies.
# (Fast mode uses non-overlapping squares here, stride = patch.)

# %%
choices = {f"{k}px {fill}": occlusion(model, images[:1], labels[:1], patch=k,
                                       stride=k if FAST else max(1, k // 2), baseline=fill)
           for k in (4, 8, 16) for fill in ("grey", "blurred")}
fig = viz.grid(images[:1], choices, size=1.6)
figure(fig, "occlusion_patch_and_fill", caption="Score-drop maps for three patch sizes and two fills")

# %% [markdown]
# > **Paper vs here.** Zeiler & Fergus occlude 224-pixel ImageNet images with a grey square
# > whose size and stride the paper does not give, on an 8-layer network (their Fig. 7 shows
# > three images: a Pomeranian, a car wheel, an Afghan hound), and plot values per *position*.
# > Here: 64-pixel synthetic shapes, a 3-block CNN, an 8-pixel grey (0.5) square with stride 4,
# > and per-*pixel* values, the mean over the squares covering the pixel. What we check, with a
# > confidence interval over the images (3.4): the correct-class probability drops when the
# > square covers the object, and the minima of panels (b) and (d) fall on the object more
# > often than chance. The label map (e) shows which other class takes over; it is a picture,
# > not a check. The paper gives no numbers for this figure.
#
# ## Summary
#
# * Occlusion needs forward passes only: one per square position, all run as one batch.
# * Its result depends on the patch size, stride and fill, which must be reported.
# * Overlapping squares must be combined; we average the drops of the squares covering a pixel.
#
# ## Exercises
#
# *How your code is graded:* the grader runs your imports, your functions and the module-level
# assignments they use — not the rest of the notebook — on the public checks below and on
# hidden cases of the same kinds, and compares the outputs with a reference solution.
#
# 1. Implement `occlusion_map(model, image, target, patch, stride)`: grey (0.5) squares, the
#    drop of the model's output for `target`, averaged per pixel as in 3.2 (corners every
#    `stride` pixels, plus a last one at `H - patch` when the stride does not reach the edge).
#    The model's output is the score itself (no softmax).

# %%
def occlusion_map(model, image, target, patch, stride):
    raise NotImplementedError("your code here")


check("03.occlusion_map", occlusion_map)

# %% [markdown]
# 2. How many forward passes does a 224-pixel image need with a 28-pixel square and stride 14?
#    With stride 4? Which would you use on a CPU?
# 3. Replace the grey fill by the image blurred with a large Gaussian (`baseline="blurred"`). Which
#    regions change? Why might a network treat grey as a feature of its own?
#
# ## References
#
# - Zeiler, M. D. & Fergus, R. (2014). Visualizing and understanding convolutional networks. ECCV 2014. arXiv:1311.2901.
# - Zhang, W., Cai, L., Chen, M. & Wang, N. (2019). Progress in interpretability research of convolutional neural networks. MobiCASE 2019, Springer LNICST 290. doi:10.1007/978-3-030-28468-8_12.
# - Oramas, J. (2019). Model interpretation and explanation for deep neural networks (lecture slides). Course seed `002`.
