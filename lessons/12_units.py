# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 12. What do units see?
#
# Lessons 2-11 explained *one decision*: which pixels made the network say "red flower". Half
# of the interpretability literature asks a different question: *what has the network
# learned?* A convolutional layer computes K feature maps; each channel, a **unit**, is a
# detector that fires somewhere in some images. Zeiler & Fergus ("Visualizing and Understanding
# Convolutional Networks", ECCV 2014, arXiv:1311.2901) looked at the 9 image patches that
# excite a unit most and projected each activation back to pixels; Erhan et al. (2009) and
# Simonyan et al. (2014) synthesised the input a unit likes most; Mahendran & Vedaldi (CVPR
# 2015) asked which images a layer cannot tell apart. Oramas' lecture calls this *model
# interpretation*, as opposed to *explanation*.
#
# The kit's an8flower data make every claim checkable: each pixel is known to be petal, centre,
# stem, leaf or background, and the petals' colour *is* the class.
#
# **You will learn** how to read filters and feature maps, compute a receptive field from the
# architecture, find and project a unit's top patches, maximise a unit's activation (and why the
# raw result is unreadable without regularisers and a better parameterisation), and invert a
# layer's representation.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from xaikit.data import load
from xaikit.data.concepts import concepts
from xaikit.exercises import check
from xaikit.interpretation.dissection import network_dissection
from xaikit.interpretation.inversion import inversion
from xaikit.interpretation.maximization import (activation_maximization, fourier, jitter, pixel,
                                                rotate, scale)
from xaikit.interpretation.objectives import channel, total_variation
from xaikit.interpretation.units import (crop, feature_maps, filters, project,
                                         receptive_field, top_activations)
from xaikit.models import zoo
from xaikit.report import above, exact, fast_mode, figure, recorded, result, table

FAST = fast_mode()
LAYERS = ["relu1_1", "relu2_1", "last_conv"]  # the rectified output of each convolution


def montage(ax, tiles, title=""):
    """Draw tiles (n, h, w, 3) side by side on one axis, each scaled to [0, 1]."""
    low = tiles.min(axis=(1, 2, 3), keepdims=True)
    high = tiles.max(axis=(1, 2, 3), keepdims=True)
    ax.imshow(np.concatenate(list((tiles - low) / np.maximum(high - low, 1e-9)), axis=1))
    ax.set(xticks=[], yticks=[], title=title)


# %% [markdown]
# ## 12.1 The network and the data
#
# The zoo's `an8flower-single-6c` model: three 3x3 convolutions (16, 32, 64 channels; the first
# with stride 2), each followed by batch normalisation and a ReLU, 2x2 max-pooling between
# them, global average pooling and a dense layer. The class is the petals' colour.

# %%
test = load("an8flower-single-6c", split="test")
model = zoo("an8flower-single-6c")
accuracy = float((model.predict(test.images, verbose=0).argmax(1) == test.labels).mean())
print(f"{len(test)} test images {test.images.shape[1:]}, classes {test.class_names}, "
      f"accuracy {accuracy:.1%}")
for layer in LAYERS:
    print(f"{layer:10s} output {model.get_layer(layer).output.shape}")

# %% [markdown]
# ## 12.2 Filters and feature maps
#
# The first layer's filters act on pixels, so they can be drawn as tiny colour images; the
# feature map of unit k is where in an image that filter (after normalisation and the ReLU)
# responds. Zeiler & Fergus (Fig. 6) show AlexNet's first filters: oriented edges and colour
# blobs. Ours are 3x3 and see only colour and very local contrast.

# %%
kernel = filters(model)                            # (3, 3, 3, 16)
maps = feature_maps(model, test.images[:1], "relu1_1")[0]
fig, axes = plt.subplots(2, 9, figsize=(12, 3))
axes[0, 0].imshow(test.images[0])
axes[1, 0].axis("off")
for k in range(8):
    montage(axes[0, k + 1], kernel[None, ..., k], f"filter {k}")
    axes[1, k + 1].imshow(maps[..., k], cmap="magma")
    axes[1, k + 1].set(xticks=[], yticks=[], title=f"map {k}")
figure(fig, "fig_filters_maps", caption="First-layer filters (top, each scaled to [0, 1]) and "
       "their feature maps for one test image (bottom; cf. Zeiler & Fergus 2014, Fig. 6).")

# %% [markdown]
# ## 12.3 Receptive fields
#
# A unit at grid position (i, j) depends only on a window of the input, its **receptive
# field**. Walking from the input, each layer with kernel k, stride s and dilation d grows the
# window and the step between neighbouring units (the *jump*):
#
# $$k' = d(k-1)+1, \qquad r \leftarrow r + (k'-1)\,j, \qquad j \leftarrow j\,s.$$
#
# `receptive_field` applies this to the architecture (with the padding, through nested
# models). To check it, take the gradient of one unit with respect to the input: it must vanish
# outside the box.

# %%
fields = {layer: receptive_field(model, layer) for layer in LAYERS}
table([{"layer": layer, "size": f"{f.size[0]} x {f.size[1]}", "stride": f.stride[0],
        "centre of unit (0, 0)": f.centre} for layer, f in fields.items()],
      "table_receptive_fields", caption="Receptive fields of the rectified convolutions.")

# %%
probe = keras.Model(model.inputs, model.get_layer("last_conv").output)
x = tf.constant(test.images[:1])
with tf.GradientTape() as tape:
    tape.watch(x)
    value = tf.reduce_sum(probe(x)[0, 6, 6, :])
gradient = np.abs(tape.gradient(value, x).numpy()[0]).sum(-1)
y0, x0, y1, x1 = fields["last_conv"].boxes(np.array([6, 6]))
inside = np.zeros(gradient.shape, bool)
inside[max(y0, 0):y1, max(x0, 0):x1] = True
outside = gradient[~inside].sum()
print(f"box of unit (6, 6): rows {y0}..{y1 - 1}, cols {x0}..{x1 - 1}; gradient mass outside: "
      f"{outside:.3g} of {gradient.sum():.3g}")
result("gradient_outside_receptive_field", float(outside), check=exact(0.0),
       note="|d A(6, 6) / dx| summed outside the computed receptive field of last_conv")

# %% [markdown]
# ## 12.4 The top 9 patches and their projections (Zeiler & Fergus, Fig. 2)
#
# For unit u and image n let $a_{n,u} = \max_{ij} A^u_n(i, j)$. The 9 images with the largest
# $a_{n,u}$, cropped to the receptive field of the maximum, show what the unit responds to.
# Zeiler & Fergus place next to each patch the **deconvnet projection** of that one
# activation: all other activations of the layer are set to zero and the signal is sent back
# down, through the max-pooling switches, rectified at every ReLU and through the transposed
# filters (lesson 4's deconvnet rule). Lesson 3 promised this panel (c) of their Fig. 7.

# %%
shown_units = {layer: [0, 1, 2] for layer in LAYERS}
tops = {layer: top_activations(model, test, layer, units, k=9)
        for layer, units in shown_units.items()}
fig, axes = plt.subplots(len(LAYERS) * 3, 2, figsize=(12, 1.5 * 3 * len(LAYERS)))
for row, (layer, top) in enumerate((layer, tops[layer]) for layer in LAYERS for _ in range(3)):
    u = row % 3
    projections = project(model, test.images[top.images[u]], layer, top.units[u],
                          positions=top.positions[u])
    crops = crop(projections, np.arange(9), top.boxes[u])
    montage(axes[row, 0], crops, f"{layer} unit {top.units[u]}: projections")
    montage(axes[row, 1], top.patches[u], "top-9 patches")
fig.tight_layout()
figure(fig, "fig2_top_patches", caption="Zeiler & Fergus Fig. 2 on an8flower: for three units "
       "of each layer, the deconvnet projections of their 9 strongest activations (left) and "
       "the receptive-field patches (right).")

# %% [markdown]
# Early units see a few pixels: a colour. The middle layer's field (12.3) is wide enough for
# the edge between a petal of one colour and the brown centre. The last layer sees a third of the
# flower: petals of one colour around the centre. The projections are less telling than in
# Zeiler & Fergus' figure: the first convolution (3x3, stride 2) covers the input pixels
# unevenly, so every signal sent back through it comes out with a checkerboard (guided
# backpropagation, `rule="guided_backprop"`, shows the same). Does the reading of the patches
# hold for *every* unit? Lesson 13's network dissection labels each unit with the
# concept it overlaps best; here we only need its labels to test Zeiler & Fergus' reading: the
# top patches of a unit labelled with a petal colour should be petals of that colour.

# %%
dissected = network_dissection(model, test, concepts(test, size=56), LAYERS)
labels = dissected.labels("last_conv")
colour_units = [k for k, name in enumerate(labels) if name in test.class_names]
top = top_activations(model, test, "last_conv", colour_units, k=9)
colour = np.array([test.class_names.index(labels[k]) for k in colour_units])
boxes = np.clip(top.boxes, 0, test.images.shape[1])
petal_share = np.array([[test.parts["petals"][n, y0:y1, x0:x1].mean()
                         for n, (y0, x0, y1, x1) in zip(images, unit_boxes)]
                        for images, unit_boxes in zip(top.images, boxes)])
shows_part = (test.labels[top.images] == colour[:, None]) & (petal_share >= 0.1)
print(f"{len(colour_units)} of {len(labels)} units of last_conv are labelled with a petal "
      f"colour; per unit, the share of its top 9 patches that are petals of that colour: "
      f"mean {shows_part.mean():.2f}, min {shows_part.mean(axis=1).min():.2f}")
result("top_patches_show_the_labelled_colour", shows_part.mean(axis=1), check=above(0.5),
       paper="Zeiler & Fergus Fig. 2: a unit's top patches share its concept",
       note="per colour-labelled unit of last_conv: share of its top-9 patches from a flower "
            "of that colour with >= 10 % petal pixels in the receptive field")

# %% [markdown]
# ## 12.5 Activation maximisation
#
# Instead of searching the data set, search the input space (Erhan et al. 2009; Simonyan et al.
# 2014, Eq. 1, for a class score; lesson 2's class models are the case of a logit):
#
# $$x^* = \arg\max_x \; S_u(x) - R(x),$$
#
# with $S_u$ the mean of unit u's feature map. Plain gradient ascent on pixels finds
# high-frequency patterns that excite the unit more than any real image does but look like
# noise. Yosinski et al. (ICML-W 2015) add regularisers: L2 decay, blur, random jitter
# (Olah et al. 2017 add rotation and scale: the result must survive small transforms) and a
# total-variation penalty; Olah et al. also optimise in a **decorrelated Fourier basis**, where
# a gradient step moves all frequencies alike. In `xaikit` the three pieces are separate:
# an objective, a parameterisation, transforms. We maximise the pre-ReLU channel (`bn3_1`),
# because a ReLU unit that is zero at the start has no gradient.

# %%
units = list(range(6 if FAST else 16))
steps = 48 if FAST else 256
robust = [jitter(4), rotate(5), scale(0.9, 1.1)]
TV_WEIGHT = 4.0 / np.prod(test.images.shape[1:])  # 4 per pixel value, as the mean TV
objective = channel("bn3_1", units)
variants = {
    "pixels": dict(parameterization=pixel(value_range=(0.0, 1.0))),
    "pixels + jitter/rotate/scale + TV": dict(
        parameterization=pixel(value_range=(0.0, 1.0)), transforms=robust,
        objective=objective - TV_WEIGHT * total_variation(1.0)),
    "Fourier + jitter/rotate/scale": dict(parameterization=fourier(colours=test.images[:64]),
                                          transforms=robust),
}
synthesised = {name: activation_maximization(model, options.pop("objective", objective),
                                             steps=steps, seed=0, **options)
               for name, options in variants.items()}

# %% [markdown]
# We compare each unit's largest activation on its synthesised image with its largest
# activation on the test set. The kit's own values (tier 2) are recorded with a 10 %
# tolerance: hundreds of ascent steps amplify round-off differences between machines.

# %%
natural = top_activations(model, test, "last_conv", units, k=1).values[:, 0]
rows = []
for name, images in synthesised.items():
    reached = feature_maps(model, images, "last_conv")[np.arange(len(units)), ..., units]
    ratio = reached.max(axis=(1, 2)) / natural
    rows.append({"variant": name, "mean ratio": f"{ratio.mean():.2f}",
                 "min ratio": f"{ratio.min():.2f}", "ratios": ratio})
table([{k: v for k, v in row.items() if k != "ratios"} for row in rows], "table_am_ratios",
      caption="Max activation of each unit of last_conv on its synthesised image, divided by "
              "its largest activation on the test set.")
result("am_pixels_over_top_patch", rows[0]["ratios"], check=above(2.0),
       paper="Erhan et al. / Simonyan et al.: the optimum excites the unit beyond real inputs",
       note="per unit: max activation on the pixel-space optimum / top natural activation")
for key, row in zip(("pixels", "regularised", "fourier"), rows):
    result(f"am_{key}_mean_ratio", float(row["ratios"].mean()), check=recorded(rtol=0.1),
           note=f"mean ratio, {row['variant']}")

# %%
fig, axes = plt.subplots(len(variants), 1, figsize=(12, 2.2 * len(variants)))
for ax, (name, images) in zip(axes, synthesised.items()):
    montage(ax, images[:6], name)
figure(fig, "fig_activation_maximisation", caption="Images maximising units 0-5 of last_conv "
       "(pre-ReLU), side by side: plain pixel ascent, with transforms and total variation, and "
       "in the decorrelated Fourier basis (cf. Olah et al. 2017, Distill, 'the enemy of "
       "feature visualization' and 'preconditioning').")

# %% [markdown]
# The unregularised optimum excites the unit several times more than its best test patch but
# is a speckle of saturated pixels. Transforms and TV give up part of that activation for
# images that are readable: the colours of the unit's petals, in blobs and stripes at the scale
# of its receptive field, often next to a second colour the unit also likes. The Fourier basis
# gives up more activation and gives the smoothest pictures. Which
# to trust? None alone: the patches of 12.4 say what *real* data drive the unit; the
# synthesised images say what *could*.

# %% [markdown]
# ## 12.6 Inversion: what does a layer remember?
#
# Mahendran & Vedaldi (CVPR 2015) reconstruct an image from its representation $\Phi_0$ at a
# layer with a natural-image prior:
#
# $$x^* = \arg\min_x \frac{\lVert\Phi(x) - \Phi_0\rVert^2}{\lVert\Phi_0\rVert^2}
#   + \lambda_\alpha R_\alpha(x) + \lambda_{V^\beta} R_{V^\beta}(x).$$
#
# Everything the reconstruction gets right, the layer kept; what it gets wrong, the layer threw
# away (or at least, the reconstruction could not find it).

# %%
originals = test.images[: 4 if FAST else 8]
rebuilt = {layer: inversion(model, originals, layer, steps=100 if FAST else 300, seed=0)
           for layer in LAYERS}
error = {layer: np.sqrt(((x - originals) ** 2).mean(axis=(1, 2, 3))) for layer, x in rebuilt.items()}
table([{"layer": layer, "pixel RMSE (mean over images)": f"{e.mean():.3f}"}
       for layer, e in error.items()], "table_inversion", caption="Reconstruction error per layer.")
result("inversion_rmse_last_conv", float(error["last_conv"].mean()), check=recorded(rtol=0.1))
result("inversion_error_grows_with_depth", error["last_conv"] - error["relu1_1"], check=above(0.0),
       paper="Mahendran & Vedaldi Fig. 6: deeper layers give blurrier, less exact inversions",
       note="per image: pixel RMSE of the inversion from last_conv minus from relu1_1")

# %%
fig, axes = plt.subplots(1 + len(LAYERS), 1, figsize=(12, 2.0 * (1 + len(LAYERS))))
montage(axes[0], originals[:6], "originals")
for ax, layer in zip(axes[1:], LAYERS):
    montage(ax, rebuilt[layer][:6], f"inverted from {layer}")
figure(fig, "fig_inversion", caption="Inversions from each layer (cf. Mahendran & Vedaldi "
       "2015, Fig. 6).")

# %% [markdown]
# > **Paper vs here.** Zeiler & Fergus, Erhan et al., Simonyan et al., Yosinski et al., Olah
# > et al. and Mahendran & Vedaldi work on ImageNet networks (AlexNet, GoogLeNet) with 224-px
# > photographs; here a three-layer network on 112-px flowers whose class is one colour.
# > Checked: the receptive field computed from the architecture bounds the input gradient
# > exactly; top patches of colour-labelled units are petals of that colour (per unit, CI over
# > units); the pixel-space optimum drives a unit at least twice as high as its best test
# > patch (CI over units); inversions get worse with depth (CI over images). Not reproduced:
# > AlexNet's hierarchy of edges, textures and object parts (our network has three layers
# > and a task that needs colour only; lesson 13 measures what each layer detects).

# %% [markdown]
# ## 12.7 Exercises
#
# *How your code is graded:* the grader runs your imports, your functions and the module-level
# assignments they use — not the rest of the notebook — on the public checks below and on
# hidden cases of the same kinds, and compares the outputs with a reference solution.
#
# **Exercise 1 (`12.receptive_field`).** Given a chain of layers as `(kernel, stride,
# dilation)` tuples, return the receptive field `(size, stride)` of the last one, as two ints,
# with the recursion of 12.3 (start from size 1 and stride 1).


# %%
def receptive_field_size(layers):
    """Return (r, j) for layers [(kernel, stride, dilation), ...] from the input."""
    raise NotImplementedError("your code here")


check("12.receptive_field", receptive_field_size)

# %% [markdown]
# **Exercise 2 (`12.ascent_step`).** Implement one step of activation maximisation with jitter
# and total variation: `ascent_step(model, images, shift, tv_weight, learning_rate)` returns
# $x + \eta \nabla_x S$ with
# $S(x) = f(\mathrm{roll}(x, \delta))_0 - \lambda \big(\sum (x_{i+1,j} - x_{ij})^2 +
# \sum (x_{i,j+1} - x_{ij})^2\big)$, where `model` outputs one score per image (N, 1), `shift`
# $\delta = (dy, dx)$ rolls rows and columns (`tf.roll`), and the sums run over every pair of
# neighbours and channel of each image. The kit's `activation_maximization` is not allowed.


# %%
def ascent_step(model, images, shift, tv_weight, learning_rate):
    """Return images + learning_rate * dS/dx, shape (N, H, W, C)."""
    raise NotImplementedError("your code here")


check("12.ascent_step", ascent_step)

# %% [markdown]
# ## Summary
#
# * A **unit** is a channel; its **receptive field** follows from kernels, strides, dilations
#   and padding, and bounds everything that can influence it.
# * **Top patches** show what real data drive a unit; the **deconvnet projection** shows which
#   pixels of a patch did.
# * **Activation maximisation** synthesises a unit's preferred input. Without regularisers it
#   overshoots real activations with noise; transforms, TV and a decorrelated Fourier
#   parameterisation trade activation for legibility.
# * **Inversion** shows what a layer keeps: the deeper, the less of the exact image.
#
# ## Further exercises
#
# 1. Maximise `channel("bn3_1", u) - channel("bn3_1", v)` for two units labelled with the same
#    colour. What differs between them?
# 2. Use `class_score` with `fourier()`: compare with lesson 2's class models.
# 3. Invert the `logits`-layer's input (`gap` output is not spatial): what could you change in
#    `inversion` to do it?
#
# ## References
#
# * M. D. Zeiler, R. Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014,
#   arXiv:1311.2901.
# * D. Erhan, Y. Bengio, A. Courville, P. Vincent. Visualizing Higher-Layer Features of a Deep
#   Network. Technical report 1341, Université de Montréal, 2009.
# * K. Simonyan, A. Vedaldi, A. Zisserman. Deep Inside Convolutional Networks: Visualising Image
#   Classification Models and Saliency Maps. ICLR workshop 2014, arXiv:1312.6034.
# * J. Yosinski, J. Clune, A. Nguyen, T. Fuchs, H. Lipson. Understanding Neural Networks Through
#   Deep Visualization. ICML Deep Learning workshop 2015, arXiv:1506.06579.
# * C. Olah, A. Mordvintsev, L. Schubert. Feature Visualization. Distill 2017,
#   doi:10.23915/distill.00007.
# * A. Mahendran, A. Vedaldi. Understanding Deep Image Representations by Inverting Them. CVPR
#   2015, arXiv:1412.0035.
# * A. Araujo, W. Norris, J. Sim. Computing Receptive Fields of Convolutional Neural Networks.
#   Distill 2019, doi:10.23915/distill.00021.
