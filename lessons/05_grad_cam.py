# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 5. Grad-CAM
#
# The saliency maps of lesson 2 and the guided backpropagation of lesson 4 are sharp, but they
# answer "where is the network sensitive?", not "where is the evidence *for this class*?". Show
# them an image with a cat and a dog and ask about "cat", then about "dog": the two maps come
# out nearly the same. Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra (ICCV 2017,
# arXiv:1610.02391) make this the opening figure of "Grad-CAM: Visual Explanations from Deep
# Networks via Gradient-based Localization", and fix it by going back to the last convolutional
# layer, whose channels still know *where* and already know *what*.
#
# We reproduce their Fig. 1 on images with two objects of different classes, measure how much
# of each map lands on the right object, show the *counterfactual* maps of their Fig. 3, and check
# on numbers that Grad-CAM is exactly CAM (Zhou et al. 2016) on a global-average-pooling network.
#
# **You will learn** the CAM and Grad-CAM equations, why Grad-CAM is class-discriminative and
# guided backprop much less so, how guided Grad-CAM combines resolution with discrimination, and how
# to implement Grad-CAM with one `tf.GradientTape`.

# %%
import numpy as np
from scipy import ndimage

from xaikit import viz
from xaikit.attribution import (
    grad_cam,
    grad_cam_pp,
    guided_backprop,
    guided_grad_cam,
    layer_cam,
    saliency,
    score_cam,
)
from xaikit.attribution import cam
from xaikit.data import imagenet_photos, load
from xaikit.exercises import check
from xaikit.metrics import ground_truth
from xaikit.models import accuracy, decode_imagenet, logits_model, pretrained, zoo, zoo_info
from xaikit.report import (
    above,
    confidence_interval,
    exact,
    fast_mode,
    figure,
    pattern,
    recorded,
    result,
    table,
)

FAST = fast_mode()

# %% [markdown]
# ## 5.1 Two objects, two classes
#
# Each test image of `shapes-two-objects` holds two shapes of different classes, one in each half
# of the image, on the cluttered background. The zoo model is the kit's VGG-style CNN with a
# multi-label head (one sigmoid per class): both objects should get a high score.

# %%
test = load("shapes-two-objects", split="test")
model = zoo("shapes-two-objects")
names = test.class_names
first, second = test.labels, test.meta["labels2"]
both_found = accuracy(model, test)  # multi-label: the two objects are the two top scores
print(f"{len(test)} images; both objects are the two top-scoring classes in {both_found:.1%}")
print("zoo recipe:", zoo_info("shapes-two-objects")["recipe"]["arch"], "- last layers:",
      [layer.name for layer in model.layers[-4:]])
result("two_objects_both_in_top2", both_found,
       note="fraction of test images whose two classes are the two highest scores", check=recorded(rtol=0.05))

# %% [markdown]
# ## 5.2 CAM: a network that explains itself
#
# Zhou et al. (CVPR 2016) noticed that a network ending in *global average pooling* (GAP) and
# one dense layer computes its class score as a weighted sum of spatially averaged channels:
#
# $$S_c = \sum_k w_k^c \frac{1}{Z}\sum_{ij} A^k_{ij} + b_c
#       = \frac{1}{Z}\sum_{ij} \underbrace{\sum_k w_k^c A^k_{ij}}_{M_c(i, j)} + b_c .$$
#
# The class activation map $M_c$ (their Eq. 2) says how much each position contributes to
# $S_c$ — exactly, not approximately. Our model has this architecture (`last_conv` →
# `gap` → `logits`), so CAM applies; `cam` reads $w^c$ from the dense layer. Eq. 2 is exact:
# the mean of $M_c$ plus $b_c$ must give back the logit that the Keras model computes.

# %%
n_show = 3 if FAST else 6
shown = test.subset(np.arange(n_show))
cam_first = cam(model, shown.images, shown.labels, upsample=False)
print("CAM grid:", cam_first.shape[1:], " input:", shown.images.shape[1:3])
logit = logits_model(model).predict(shown.images, verbose=0)[np.arange(n_show), shown.labels]
rebuilt = cam_first.mean(axis=(1, 2)) + model.get_layer("logits").bias.numpy()[shown.labels]
result("cam_mean_plus_bias_is_the_logit", float(np.abs(rebuilt - logit).max() / np.abs(logit).max()),
       check=exact(0.0, atol=1e-5), paper="exact (Zhou et al. 2016, Eq. 2)",
       note="max |mean(M_c) + b_c - S_c| / max |S_c|, S_c from the Keras model")

# %% [markdown]
# ## 5.3 Grad-CAM: CAM for any network
#
# CAM needs the GAP + dense head. Grad-CAM replaces the dense weights by the spatial average of
# the gradient of the score with respect to each channel (Selvaraju et al., Eqs. 1-2):
#
# $$\alpha_k^c = \frac{1}{Z}\sum_{ij}\frac{\partial S_c}{\partial A^k_{ij}}, \qquad
#   L^c_{\text{Grad-CAM}} = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big).$$
#
# The ReLU keeps the positions that push the score *up*. On a GAP network
# $\partial S_c / \partial A^k_{ij} = w_k^c / Z$ for every position, so
# $\alpha_k^c = w_k^c / Z$ and Grad-CAM is ReLU(CAM) divided by $Z$ — the paper's Sec. 3.1
# generalisation claim. Let us check it on numbers:

# %%
grad_first = grad_cam(model, shown.images, shown.labels, upsample=False)
z = grad_first.shape[1] * grad_first.shape[2]
gap = float(np.abs(grad_first - np.maximum(cam_first, 0) / z).max())
print(f"Z = {z};  max |Grad-CAM - ReLU(CAM)/Z| = {gap:.2e}  (map values up to "
      f"{grad_first.max():.3g})")
result("cam_equals_grad_cam_max_abs_diff", gap, paper="0 (exact on GAP nets)",
       note="max |Grad-CAM - ReLU(CAM)/Z| on the GAP zoo model", check=exact(0.0, atol=1e-5 * max(1.0, float(grad_first.max()))))

# %% [markdown]
# ## 5.4 Fig. 1: guided backprop, Grad-CAM and guided Grad-CAM, for each object
#
# Grad-CAM lives on the coarse grid of the last convolution (printed in 5.2 for our model;
# 14 × 14 for VGG-16 at 224 px), upsampled bilinearly to the image. Guided backpropagation
# is sharp but, according to the paper, hardly class-specific (and, lesson 08 shows, hardly
# dependent on the network's weights at all).
# *Guided Grad-CAM* multiplies the two pixel-wise,
# $G^c = \text{GuidedBackprop}^c \odot \text{Up}(L^c_{\text{Grad-CAM}})$, to get a map that is
# both (their Sec. 3.1). Below, for each image, the three maps for the first object's class and
# then for the second's (Fig. 1 (b)-(d) and (h)-(j) of the paper).

# %%
maps = {}
for which, classes in (("1st", shown.labels), ("2nd", shown.meta["labels2"])):
    maps[f"guided BP ({which})"] = guided_backprop(model, shown.images, classes)
    maps[f"Grad-CAM ({which})"] = grad_cam(model, shown.images, classes)
    maps[f"guided Grad-CAM ({which})"] = guided_grad_cam(model, shown.images, classes)
titles = [f"1st {names[a]}, 2nd {names[b]}" for a, b in zip(shown.labels, shown.meta["labels2"])]
fig = viz.grid(shown.images, maps, image_titles=titles, size=1.7)
figure(fig, "fig1_grad_cam_two_objects",
       caption="Selvaraju et al., Fig. 1 on two-object shapes: guided backprop, Grad-CAM and "
               "guided Grad-CAM for the first object's class (columns 2-4) and for the second "
               "object's class (columns 5-7).")

# %% [markdown]
# ## 5.5 Class discrimination, measured
#
# The data know which pixels belong to which object (`parts[class name]`), so we can measure
# what the figure suggests: for each image and each of its two classes, the share of the
# map's (positive) mass that lies on that class's object, and on the *other* object. A
# class-discriminative map puts most of its mass on its own object.

# %%
n_eval = 24 if FAST else 200
evaluated = test.subset(np.arange(min(n_eval, len(test))))
pairs = (evaluated.labels, evaluated.meta["labels2"])
own = [np.stack([evaluated.parts[names[c]][i] for i, c in enumerate(cls)]) for cls in pairs]
METHODS = {"saliency": saliency, "guided backprop": guided_backprop, "Grad-CAM": grad_cam,
           "guided Grad-CAM": guided_grad_cam, "Grad-CAM++": grad_cam_pp,
           "Layer-CAM": layer_cam, "Score-CAM": score_cam}


def mass_share(maps, masks):
    """Share of each map's positive mass inside the mask, (N,)."""
    positive = np.maximum(maps, 0)
    return (positive * masks).sum(axis=(1, 2)) / np.maximum(positive.sum(axis=(1, 2)), 1e-12)


# %%
rows, evaluated_maps, discrimination = [], {}, {}
for name, method in METHODS.items():
    evaluated_maps[name] = [method(model, evaluated.images, classes) for classes in pairs]
    on_own = np.concatenate([mass_share(m, own[k]) for k, m in enumerate(evaluated_maps[name])])
    on_other = np.concatenate([mass_share(m, own[1 - k])
                               for k, m in enumerate(evaluated_maps[name])])
    discrimination[name] = on_own / np.maximum(on_own + on_other, 1e-12)   # per image and class
    rows.append({"method": name, "mass on own object": on_own.mean(),
                 "mass on the other object": on_other.mean(),
                 "discrimination own / (own + other)": discrimination[name].mean()})
table([{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in row.items()} for row in rows],
      "table_class_discrimination",
      caption=f"Share of each map's positive mass on the explained class's object and on the "
              f"other object, and own / (own + other) per image and class, averaged "
              f"({len(evaluated)} images × 2 classes).")

# %%
result("grad_cam_discrimination", float(discrimination["Grad-CAM"].mean()),
       note="Grad-CAM: mass on own object / (own + other object)", check=recorded(rtol=0.05))
result("guided_bp_discrimination", float(discrimination["guided backprop"].mean()),
       note="the same for guided backprop", check=recorded(rtol=0.05))
result("guided_grad_cam_more_discriminative_than_guided_bp",
       discrimination["guided Grad-CAM"] - discrimination["guided backprop"], check=above(0.0),
       paper="humans name the class from guided Grad-CAM 61.23 %, from guided backprop 44.44 % "
             "(Table 2; PASCAL VOC, VGG-16: not our setting, the ordering is asserted)",
       note="per image and class: discrimination of guided Grad-CAM minus guided backprop")

# %%
print(f"guided backprop puts {discrimination['guided backprop'].mean():.0%} of its mass on the "
      "two objects on the explained class's object (50 % would be blind to the class); "
      f"Grad-CAM {discrimination['Grad-CAM'].mean():.0%}, guided Grad-CAM "
      f"{discrimination['guided Grad-CAM'].mean():.0%}")

# %% [markdown]
# The check above asserts the paper's ordering, guided Grad-CAM more class-discriminative than
# guided backprop, with a confidence interval over the image-class pairs. Guided backprop is not
# necessarily blind to the class on these clean toy images (the line above says how far from
# 50 % it is): the multi-label network's two sigmoid outputs depend on different objects, and
# the backward pass through the ReLU masks keeps some of that. Look also at the absolute share
# on the own object: the cells of the coarse grid, once upsampled, spread over the background
# around the object; guided Grad-CAM sharpens it.
#
# One more exact identity hides in the table: on a GAP net the gradient is constant over
# space, so Grad-CAM++'s per-position weights become uniform after their normalisation, and
# Grad-CAM++ reduces to $\sum_k \mathrm{ReLU}(w_k^c) A^k / Z$ — which is also what Layer-CAM
# computes. Their rows of the table must agree, map by map:

# %%
gap_pp = max(float(np.abs(pp - lc).max() / max(np.abs(lc).max(), 1e-12)) for pp, lc in
             zip(evaluated_maps["Grad-CAM++"], evaluated_maps["Layer-CAM"]))
result("grad_cam_pp_equals_layer_cam_on_gap", gap_pp, check=exact(0.0, atol=1e-5),
       note="max |Grad-CAM++ - Layer-CAM| / max |Layer-CAM| on the GAP zoo model")

# %% [markdown]
# Both keep only the channels with positive weight; compare their discrimination with Grad-CAM's
# in the table. Score-CAM weighs each channel by the *softmax* probability of the masked image
# (as its paper does); with two classes present in every image and a sigmoid-trained head, that
# probability is a weak per-class score here — a reminder to check a method's assumptions
# against the model's head.
#
# ## 5.6 Weakly supervised localisation (the paper's Table 1)
#
# Selvaraju et al. localise ImageNet objects by thresholding the Grad-CAM map at 15 % of its
# maximum and boxing the largest connected segment; on ILSVRC-15 (VGG-16) its localisation error
# is "significantly better" than that of Simonyan et al.'s gradient saliency (their Table 1;
# Grad-CAM: 56.51 % top-1 error). Our objects come with masks, so we can run the same rule for
# both maps and score each object's box by IoU.

# %%
def box_at_fraction(maps, fraction=0.15):
    """Box (y0, x0, y1, x1) of the largest 8-connected segment above fraction * max, per map."""
    boxes = []
    for m in maps:
        segments, count = ndimage.label(m >= fraction * m.max(), structure=np.ones((3, 3)))
        largest = np.argmax(np.bincount(segments.ravel())[1:]) + 1 if count else 0
        ys, xs = np.nonzero(segments == largest)
        boxes.append([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])
    return np.array(boxes, dtype=np.float64)


def mask_box(masks):
    """Tight box of each (N, H, W) mask."""
    ys, xs = masks.any(axis=2), masks.any(axis=1)
    h, w = masks.shape[1:]
    return np.stack([ys.argmax(1), xs.argmax(1), h - ys[:, ::-1].argmax(1),
                     w - xs[:, ::-1].argmax(1)], axis=1).astype(np.float64)

# %%
iou = {name: np.concatenate([ground_truth.box_iou(box_at_fraction(m), mask_box(own[k]))
                             for k, m in enumerate(evaluated_maps[name])])
       for name in ("saliency", "Grad-CAM")}
table([{"map": name, "mean IoU": f"{v.mean():.3f}", "hit rate (IoU ≥ 0.5)": f"{(v >= 0.5).mean():.3f}"}
       for name, v in iou.items()], "table_localisation",
      caption="Boxes from the largest segment above 15 % of each map's maximum, against the "
              "explained object's box (Selvaraju et al.'s rule).")
difference = iou["Grad-CAM"] - iou["saliency"]
result("grad_cam_minus_saliency_box_iou", float(difference.mean()),
       check=recorded(rtol=0.0, atol=0.03),
       paper="Grad-CAM localises better than gradient saliency on ILSVRC-15 (Table 1: VGG-16, "
             "224 px, 14 x 14 grid; not asserted here)",
       note="mean over objects of IoU(Grad-CAM box) - IoU(saliency box)")

# %%
mean, low, high = confidence_interval(difference)
verdict = ("better than" if low > 0 else "worse than" if high < 0
           else "not distinguishable (at 95 %) from")
print(f"Here Grad-CAM's boxes are {verdict} the saliency boxes: mean IoU difference {mean:+.3f}, "
      f"95 % CI [{low:+.3f}, {high:+.3f}] over {len(difference)} objects.")

# %% [markdown]
# The paper's ordering is not asserted: its setting is not ours. On 224-pixel photographs a
# 14 × 14 grid cell covers 16 pixels of objects that fill much of the image; here the objects
# are a few cells of a coarse grid (5.2), so the upsampled Grad-CAM blob above 15 % of its
# maximum is as large as the object's neighbourhood, while the gradient stays on the object's
# edges. The line above says which way the comparison goes on these images; the recorded value
# catches a change.
#
# ## 5.7 Counterfactual explanations (the paper's Fig. 3)
#
# Negating the gradient gives the regions whose *removal* would make the network *more*
# confident in class $c$ (Selvaraju et al., Sec. 3, "Counterfactual Explanations", Fig. 3):
#
# $$\alpha_k^{c,\text{cf}} = \frac{1}{Z}\sum_{ij} -\frac{\partial S_c}{\partial A^k_{ij}},
#   \qquad L^{c,\text{cf}} = \mathrm{ReLU}\Big(\sum_k \alpha_k^{c,\text{cf}} A^k\Big).$$
#
# Grad-CAM and its counterfactual are the positive and the negative part of the same signed
# map, so by construction they never overlap (nothing to check there). What is a finding: in the
# paper's Fig. 3 the counterfactual map of "cat" falls on the dog and that of "dog" on the cat;
# here we check that the counterfactual map of the first object's class puts more of its mass on
# the *second* object than on the first: the evidence for the other class is evidence against
# this one.

# %%
counterfactual = grad_cam(model, shown.images, shown.labels, counterfactual=True)
plain = grad_cam(model, shown.images, shown.labels)
fig = viz.grid(shown.images, {"Grad-CAM (1st)": plain, "counterfactual (1st)": counterfactual,
                              "Grad-CAM (2nd)": grad_cam(model, shown.images,
                                                         shown.meta["labels2"])},
               image_titles=titles, size=1.9)
figure(fig, "fig3_counterfactual",
       caption="Grad-CAM and counterfactual Grad-CAM (negated gradients) for the first object's "
               "class, next to Grad-CAM for the second object's class (cf. Fig. 3 of "
               "Selvaraju et al.).")

# %%
against = grad_cam(model, evaluated.images, pairs[0], counterfactual=True)
on_other, on_own = mass_share(against, own[1]), mass_share(against, own[0])
print(f"counterfactual of the 1st class: {on_other.mean():.3f} of its mass on the 2nd object, "
      f"{on_own.mean():.3f} on the 1st")
result("counterfactual_on_the_other_object", on_other - on_own, check=above(0.0),
       paper="the counterfactual of 'cat' falls on the dog (Fig. 3, qualitative)",
       note="per image: counterfactual mass on the 2nd object minus on the 1st")
result("counterfactual_mass_on_other_object", float(on_other.mean()), check=recorded(rtol=0.05),
       note="counterfactual map of the 1st class: share of its mass on the 2nd object")

# %% [markdown]
# ## 5.8 Grad-CAM on a photograph (the paper's Fig. 1)
#
# The paper's Fig. 1 is one photograph with a cat and a dog. None of scikit-image's photographs
# shows two ImageNet objects apart: in `chelsea` a cat's face fills the frame, and in `coffee`
# the model's other guesses ("cup", "coffee mug") name the same cup as its first, "espresso". So
# we do what the figure needs by hand: the central half of `chelsea` next to the central half of
# `coffee` (full mode adds the mirrored collage), explained by EfficientNet-Lite0, an ImageNet
# CNN that runs offline (lesson 2). Its last convolutional block has a 7 × 7 grid, half of
# VGG-16's 14 × 14. Two checks: the collage's top-5 classes must name both objects, and each
# class's Grad-CAM must put most of its mass (> 50 %) on the half that holds its object.
# Guided backpropagation is not defined for EfficientNet's ReLU6 activations (the kit refuses
# it), so the gradient (saliency) stands in for the sharp but class-blind map.

# %%
imagenet = pretrained("efficientnet-lite0")
photos = imagenet_photos(names=("chelsea", "coffee"))
strip = {name: image[:, 56:168] for name, image in zip(photos.meta["photos"], photos.images)}
accepted = dict(zip(photos.meta["photos"], photos.meta["accepted"]))
ARRANGEMENTS = [("chelsea", "coffee")] if FAST else [("chelsea", "coffee"), ("coffee", "chelsea")]
collages = np.stack([np.concatenate([strip[a], strip[b]], axis=1) for a, b in ARRANGEMENTS])
top5 = decode_imagenet(imagenet.predict(collages, verbose=0), top=5)
for arrangement, guesses in zip(ARRANGEMENTS, top5):
    print("|".join(arrangement), ":", ", ".join(f"{g.name} {g.probability:.2f}" for g in guesses))
result("photo_collage_top5_names_both_objects",
       {f"{name} in {'|'.join(arrangement)}": any(g.index in accepted[name] for g in guesses)
        for arrangement, guesses in zip(ARRANGEMENTS, top5) for name in arrangement},
       check=pattern({f"{name} in {'|'.join(a)}": True for a in ARRANGEMENTS for name in a}),
       note="a class naming each object among the collage's top-5 classes")

# %%
def top_accepted(guesses, name):
    """The most probable of the top-5 classes that name the object of photo ``name``."""
    return next(g.index for g in guesses if g.index in accepted[name])


def half_share(m, side):
    """Share of the map's positive mass in the left (side 0) or right (side 1) half."""
    positive = np.maximum(m, 0)
    return float(positive[:, 112 * side:112 * (side + 1)].sum() / positive.sum())


pairs = [(i, side, name) for i, arrangement in enumerate(ARRANGEMENTS)
         for side, name in enumerate(arrangement)]                  # one map per collage and class
inputs = collages[[i for i, _, _ in pairs]]
targets = np.array([top_accepted(top5[i], name) for i, _, name in pairs])
photo_maps = {"saliency": saliency(imagenet, inputs, targets),
              "Grad-CAM": grad_cam(imagenet, inputs, targets)}
rows, verdicts = [], {}
for k, ((i, side, name), target) in enumerate(zip(pairs, targets)):
    share = {method: half_share(maps[k], side) for method, maps in photo_maps.items()}
    verdicts[f"{name} in {'|'.join(ARRANGEMENTS[i])}"] = share["Grad-CAM"] > 0.5
    rows.append({"collage": "|".join(ARRANGEMENTS[i]), "class": photos.class_names[target],
                 **{f"{m}: mass on its object's half": f"{v:.2f}" for m, v in share.items()}})
table(rows, "table_photo_halves", caption="Share of each map's positive mass on the half of the "
      "collage that holds the explained class's object (0.5 = blind to the class).")

# %%
result("photo_grad_cam_on_the_object", verdicts, check=pattern({key: True for key in verdicts}),
       paper="Grad-CAM 'cat' highlights the cat, 'dog' the dog (Fig. 1 c, i; qualitative)",
       note="Grad-CAM puts more than half of its mass on the explained object's half")
first = {f"{method} '{photos.class_names[t]}'": maps[k][None] for method, maps in
         photo_maps.items() for k, t in enumerate(targets[:2])}          # the first collage
fig = viz.grid(collages[:1], first, size=2.4)
figure(fig, "fig1_grad_cam_photo",
       caption="Selvaraju et al., Fig. 1 on a photo collage: saliency and Grad-CAM of "
               "EfficientNet-Lite0 for the cat class and for espresso.")

# %% [markdown]
# > **Paper vs here.** Selvaraju et al. explain VGG-16 and ResNet ImageNet classifiers (and
# > captioning and VQA models); their Fig. 1 is one cat-and-dog photo, and their evaluations are
# > ILSVRC-15 weakly supervised localisation (Grad-CAM on VGG-16: 56.51 % top-1 error) and human
# > studies (guided Grad-CAM let people tell the class 61.23 % of the time, guided backprop
# > 44.44 %). Here: a three-block CNN on 64-px two-object shapes, a coarser grid than VGG-16's
# > 14 × 14 (printed in 5.2), a sigmoid multi-label head instead of a softmax, and the human
# > study replaced by the object masks of the generator; on a photograph (5.8) EfficientNet-Lite0
# > and a two-photo collage stand in for VGG-16 and the cat-and-dog photo (one collage in fast
# > mode, two in full mode). Checked: CAM's Eq. 2 and Grad-CAM = CAM
# > on a GAP net against the Keras model (tier 1), guided Grad-CAM more class-discriminative than
# > guided backprop and the counterfactual map on the other object (tier 3, confidence interval
# > over image-class pairs). Shown, not asserted: the paper's absolute numbers, and its
# > localisation ordering (5.6), whose setting differs from ours. Upsampling is bilinear with
# > half-pixel centres; values are raw and normalised only for display.

# %% [markdown]
# ## 5.9 Exercises
#
# *How your code is graded:* the grader runs your imports, your functions and the module-level
# assignments they use — not the rest of the notebook — on the public checks below and on
# hidden cases of the same kinds, and compares the outputs with a reference solution.
#
# **Exercise 1 (`05.cam_from_weights`).** Given the activations `A` of the last convolution,
# shape `(N, h, w, K)`, the dense layer's `kernel` `(K, n_classes)` and one target class per
# image, return the class activation maps $M_c(i, j) = \sum_k w_k^c A^k_{ij}$, shape
# `(N, h, w)`, with NumPy (one `np.einsum` or a broadcast product).


# %%
def cam_from_weights(activations, kernel, targets):
    """Return M[n] = sum_k kernel[k, targets[n]] * activations[n, :, :, k], shape (N, h, w)."""
    raise NotImplementedError("your code here")


check("05.cam_from_weights", cam_from_weights)

# %% [markdown]
# **Exercise 2 (`05.grad_cam`).** Implement Grad-CAM on the layer's grid (no upsampling):
# `grad_cam_map(model, images, targets, layer_name)` returns
# $\mathrm{ReLU}(\sum_k \alpha_k^c A^k)$ with $\alpha_k^c$ the spatial mean of
# $\partial S_c / \partial A^k$, shape `(N, h, w)`. The models of the checks are functional and
# output the scores $S$ directly (no softmax). Build
# `keras.Model(model.inputs, [model.get_layer(layer_name).output, model.output])`, run it inside
# a `tf.GradientTape`, and take the gradient of the target scores with respect to the
# activations. The kit's Grad-CAM functions are not allowed.


# %%
def grad_cam_map(model, images, targets, layer_name):
    """Return Grad-CAM maps on the grid of layer_name, shape (N, h, w)."""
    raise NotImplementedError("your code here")


check("05.grad_cam", grad_cam_map)

# %% [markdown]
# ## Summary
#
# * **CAM** (Zhou et al. 2016) weights the last convolution's channels by the dense weights that
#   follow global average pooling; the mean of the map plus the bias *is* the class score.
# * **Grad-CAM** weights them by the spatially averaged gradient, works for any architecture,
#   and equals ReLU(CAM)/Z on a GAP network — checked here to float precision.
# * Grad-CAM is class-discriminative but coarse; guided backprop is sharp but less
#   discriminative; **guided Grad-CAM** multiplies them.
# * Grad-CAM's coarse grid helps class discrimination and can hurt box localisation of small
#   objects: whether it beats the gradient depends on the object's size relative to a grid cell.
# * Negating the gradients gives **counterfactual** maps: the evidence against a class.
# * Grad-CAM++, Layer-CAM and Score-CAM change only the channel weights; all are in
#   `xaikit.attribution`.
#
# ## Further exercises
#
# 1. Run Grad-CAM on an earlier layer (`layer="..."`, see `model.summary()`). What do you gain in
#    resolution and lose in class discrimination? Compare with Layer-CAM on the same layer.
# 2. Explain the contrastive target `(A, B)` ("why A and not B") with Grad-CAM for the two
#    classes of an image. Where does the map go?
# 3. Score-CAM needs no gradients but one forward pass per channel: time it against Grad-CAM on
#    the zoo model and explain the ratio.
#
# ## References
#
# - Selvaraju, R. R., Cogswell, M., Das, A., Vedantam, R., Parikh, D. & Batra, D. (2017). Grad-CAM: Visual explanations from deep networks via gradient-based localization. ICCV 2017. arXiv:1610.02391.
# - Zhou, B., Khosla, A., Lapedriza, A., Oliva, A. & Torralba, A. (2016). Learning deep features for discriminative localization. CVPR 2016. arXiv:1512.04150.
# - Springenberg, J. T., Dosovitskiy, A., Brox, T. & Riedmiller, M. (2015). Striving for simplicity: The all convolutional net. ICLR 2015 workshop. arXiv:1412.6806.
# - Chattopadhay, A., Sarkar, A., Howlader, P. & Balasubramanian, V. N. (2018). Grad-CAM++: Generalized gradient-based visual explanations for deep convolutional networks. WACV 2018. arXiv:1710.11063.
# - Jiang, P.-T., Zhang, C.-B., Hou, Q., Cheng, M.-M. & Wei, Y. (2021). LayerCAM: Exploring hierarchical class activation maps for localization. IEEE Transactions on Image Processing 30. doi:10.1109/TIP.2021.3089943.
# - Wang, H., Wang, Z., Du, M., Yang, F., Zhang, Z., Ding, S., Mardziel, P. & Hu, X. (2020). Score-CAM: Score-weighted visual explanations for convolutional neural networks. CVPR 2020 workshops. arXiv:1910.01279.
# - Simonyan, K., Vedaldi, A. & Zisserman, A. (2014). Deep inside convolutional networks: Visualising image classification models and saliency maps. ICLR 2014 workshop. arXiv:1312.6034.
# - Tan, M. & Le, Q. V. (2019). EfficientNet: Rethinking model scaling for convolutional neural networks. ICML 2019. arXiv:1905.11946.
