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
# of each map lands on the right object, show the *counterfactual* maps, and check on numbers
# that Grad-CAM is exactly CAM (Zhou et al. 2016) on a global-average-pooling network.
#
# **You will learn** the CAM and Grad-CAM equations, why Grad-CAM is class-discriminative and
# guided backprop much less so, how guided Grad-CAM combines resolution with discrimination, and how
# to implement Grad-CAM with one `tf.GradientTape`.

# %%
import matplotlib.pyplot as plt
import numpy as np

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
from xaikit.data import load
from xaikit.exercises import check
from xaikit.models import zoo, zoo_info
from xaikit.report import exact, fast_mode, figure, recorded, result, table

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
scores = model.predict(test.images, verbose=0)
top2 = np.argsort(scores, axis=1)[:, -2:]
both_found = float(np.mean([{a, b} == set(t) for a, b, t in zip(first, second, top2)]))
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
# `gap` → `logits`), so CAM applies; `cam` reads $w^c$ from the dense layer and checks that the
# mean of $M_c$ plus $b_c$ gives back the logit.

# %%
n_show = 3 if FAST else 6
shown = test.subset(np.arange(n_show))
cam_first = cam(model, shown.images, shown.labels, upsample=False)
print("CAM grid:", cam_first.shape[1:], " input:", shown.images.shape[1:3])

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
rows = []
for name, method in METHODS.items():
    on_own, on_other = [], []
    for k, classes in enumerate(pairs):
        m = method(model, evaluated.images, classes)
        on_own.append(mass_share(m, own[k]))
        on_other.append(mass_share(m, own[1 - k]))
    own_mass, other_mass = float(np.mean(on_own)), float(np.mean(on_other))
    rows.append({"method": name, "mass on own object": own_mass,
                 "mass on the other object": other_mass,
                 "discrimination own / (own + other)": own_mass / max(own_mass + other_mass,
                                                                      1e-12)})
table([{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in row.items()} for row in rows],
      "table_class_discrimination",
      caption=f"Share of each map's positive mass on the explained class's object and on the "
              f"other object ({len(evaluated)} images × 2 classes).")
by_name = {row["method"]: row for row in rows}
DISCRIMINATION = "discrimination own / (own + other)"
result("grad_cam_discrimination", by_name["Grad-CAM"][DISCRIMINATION],
       paper="class-discriminative",
       note="Grad-CAM: mass on own object / (own + other object)", check=recorded(rtol=0.05))
result("guided_bp_discrimination", by_name["guided backprop"][DISCRIMINATION],
       paper="less discriminative than Grad-CAM (human study: 44.44 % vs 61.23 %)", note="the same for guided backprop", check=recorded(rtol=0.05))

# %% [markdown]
# With the trained model, Grad-CAM puts almost none of its mass on the other object, and
# guided Grad-CAM inherits that. Guided backprop is *less* discriminative but, on these clean
# toy images, not blind to the class: the multi-label network's two sigmoid outputs depend on
# different objects, and the backward pass through the ReLU masks keeps some of that. The
# paper's claim is the comparison, and the comparison holds. Note also that Grad-CAM's share
# on its own object is small in absolute terms: the cells of the coarse grid, once
# upsampled, spread over the background around the object; guided Grad-CAM sharpens it.
#
# One more exact identity hides in the table: on a GAP net the gradient is constant over
# space, so Grad-CAM++'s per-position weights become uniform after their normalisation, and
# Grad-CAM++ reduces to $\sum_k \mathrm{ReLU}(w_k^c) A^k / Z$ — which is also what Layer-CAM
# computes. Their rows agree. Both keep only channels with positive weight, and lose some
# discrimination on this model. Score-CAM weighs each channel by the *softmax* probability
# of the masked image (as its paper does); with two classes present in every image and a
# sigmoid-trained head, that probability is a weak per-class score here — a reminder to check
# a method's assumptions against the model's head.

# %% [markdown]
# ## 5.6 Counterfactual explanations
#
# Negating the gradient gives the regions whose *removal* would make the network *more*
# confident in class $c$ (Selvaraju et al., "Counterfactual Explanations"):
#
# $$\alpha_k^{c,\text{cf}} = \frac{1}{Z}\sum_{ij} -\frac{\partial S_c}{\partial A^k_{ij}},
#   \qquad L^{c,\text{cf}} = \mathrm{ReLU}\Big(\sum_k \alpha_k^{c,\text{cf}} A^k\Big).$$
#
# Grad-CAM and its counterfactual are the positive and the negative part of the same signed
# map, so they never overlap. In the paper the counterfactual map of "dog" falls on the cat;
# here the counterfactual map of the first object's class falls on the *second* object: the
# evidence for the other class is evidence against this one.

# %%
counterfactual = grad_cam(model, shown.images, shown.labels, counterfactual=True)
plain = grad_cam(model, shown.images, shown.labels)
fig = viz.grid(shown.images, {"Grad-CAM (1st)": plain, "counterfactual (1st)": counterfactual,
                              "Grad-CAM (2nd)": grad_cam(model, shown.images,
                                                         shown.meta["labels2"])},
               image_titles=titles, size=1.9)
figure(fig, "fig_counterfactual",
       caption="Grad-CAM and counterfactual Grad-CAM (negated gradients) for the first object's "
               "class, next to Grad-CAM for the second object's class.")
against = grad_cam(model, evaluated.images, pairs[0], counterfactual=True)
on_other, on_own = mass_share(against, own[1]), mass_share(against, own[0])
print(f"counterfactual of the 1st class: {on_other.mean():.3f} of its mass on the 2nd object, "
      f"{on_own.mean():.3f} on the 1st")
result("counterfactual_mass_on_other_object", float(on_other.mean()),
       paper="the counterfactual of 'dog' falls on the cat (Fig. 1, qualitative)",
       note="counterfactual map of the 1st class: share of its mass on the 2nd object", check=recorded(rtol=0.05))
overlap = float(np.minimum(grad_cam(model, shown.images, shown.labels, upsample=False),
                           grad_cam(model, shown.images, shown.labels, counterfactual=True,
                                    upsample=False)).max())
result("grad_cam_counterfactual_overlap", overlap, paper=0.0,
       note="max over positions of min(Grad-CAM, counterfactual) on the layer's grid", check=exact(0.0))

# %% [markdown]
# > **Paper vs here.** Selvaraju et al. explain VGG-16 and ResNet ImageNet classifiers (and
# > captioning and VQA models); their Fig. 1 is one cat-and-dog photo, and their evaluations are
# > ILSVRC-15 weakly supervised localisation (Grad-CAM on VGG-16: 56.51 % top-1 error) and human
# > studies (guided Grad-CAM let people tell the class 61.23 % of the time, guided backprop
# > 44.44 %). Here: a three-block CNN on 64-px two-object shapes, a coarser grid than VGG-16's
# > 14 × 14 (printed in 5.2), a sigmoid multi-label head instead of a softmax, and the human study replaced by the
# > object masks of the generator (table above). The paper's claims we check: Grad-CAM equals
# > CAM on GAP nets (exactly, on numbers); Grad-CAM and guided Grad-CAM are far more
# > class-discriminative than guided backprop (mass on own vs other object — on these toy
# > images guided backprop is partly discriminative too; the paper's human study found it
# > clearly weaker, 44.44 % vs 61.23 % correct); the counterfactual map is the negative part of the same signed map and, as in
# > their Fig. 1, falls on the other object. Upsampling is bilinear with half-pixel centres;
# > values are raw and normalised only for display.

# %% [markdown]
# ## 5.7 Exercises
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
    raise NotImplementedError("replace this line by your code")


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
    raise NotImplementedError("replace this line by your code")


check("05.grad_cam", grad_cam_map)

# %% [markdown]
# ## Summary
#
# * **CAM** (Zhou et al. 2016) weights the last convolution's channels by the dense weights that
#   follow global average pooling; the mean of the map plus the bias *is* the class score.
# * **Grad-CAM** weights them by the spatially averaged gradient, works for any architecture,
#   and equals ReLU(CAM)/Z on a GAP network — checked here to float precision.
# * Grad-CAM is class-discriminative but coarse; guided backprop is sharp but not
#   discriminative (and fails the sanity checks of lesson 08); **guided Grad-CAM** multiplies
#   them.
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
