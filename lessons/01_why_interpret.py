# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 1. Why interpret a CNN?
#
# Convolutional networks read mammograms, steer cars and sort photographs about as well as
# people do, yet a trained CNN is millions of numbers with no part a person can read. Zhang et
# al. (2019) open their survey of CNN interpretability with this tension: the more a model is
# trusted with costly decisions (medicine, finance, criminal justice), the less a bare
# prediction is enough, and the more we need to know *how* it was made.
#
# This lesson sets up the vocabulary of the course. It has no network to train: it sorts the
# methods of the next lessons along the axes the literature uses, renders the survey's
# Table 1, and ends with a small exercise that computes the one explanation that is exact.
#
# **You will learn** what separates *interpretation* from *explanation*, *ante-hoc* from
# *post-hoc* interpretability, *local* from *global* methods, and which lesson of the kit covers
# which technique.

# %%
import matplotlib.pyplot as plt
import numpy as np

from xaikit.exercises import check
from xaikit.report import exact, fast_mode, figure, recorded, result, table

# %% [markdown]
# ## 1.1 Why interpret at all?
#
# Kim's lecture (2019) gives four reasons, each with a price tag attached:
#
# 1. **Verify** that the model works as expected: a wrong decision of a self-driving car or a
#    diagnosis system is costly and dangerous.
# 2. **Improve and debug** the classifier. Oramas' lecture shows a deep network beating a
#    Fisher-vector pipeline on PASCAL VOC (72.1 % vs 60.0 % mAP) while both stay poor on
#    *bottle* (35.5 % vs 27.6 %): accuracy says *that* a class is hard, not *why*.
# 3. **Make discoveries**: a model that predicts well has found regularities in the data that
#    are worth reading off (Oramas' example: weather forecasting).
# 4. **A right to explanation**: laws such as the EU's GDPR or the US Equal Credit Opportunity
#    Act give people a claim to the reasons behind an automated decision.
#
# Auditing for bias belongs to the same list: commercial gender classifiers were up to
# 34 points less accurate on darker-skinned women than on lighter-skinned men (Gender Shades,
# quoted by Oramas) — a gap that only a per-group breakdown, not the overall accuracy, reveals.

# %% [markdown]
# ## 1.2 Interpretation versus explanation
#
# Oramas separates two research questions that the rest of the course keeps apart:
#
# * **Q1 — what has the model actually learned?** This is *model interpretation*: it looks at
#   the model itself — units, layers, the concepts they respond to — independent of any one
#   input. Network Dissection (Bau et al., 2017), which scores a unit by the IoU between its
#   activation mask and a labelled concept, is the standard example.
# * **Q2 — what information from the input does it use to make a prediction?** This is
#   *model explanation*: it justifies one prediction, usually as a heatmap over the input
#   pixels that supported it (occlusion, RISE, LIME, deconvnet, CAM and Grad-CAM).
#
# Most of lessons 2–7 are about explanation; interpretation methods come after them.

# %% [markdown]
# ## 1.3 Ante-hoc versus post-hoc, and locality
#
# Kim sorts interpretability by *when* it is obtained:
#
# * **ante-hoc**: choose an interpretable model (a decision tree, a linear model) and train it.
#   Its problem: is it expressive enough for the data?
# * **post-hoc**: train the complex model (a CNN with millions of parameters) and develop a
#   special technique to interpret it afterwards. Every method in this kit is post-hoc.
#
# Post-hoc techniques are further sorted by their degree of **locality**. At the *global* end
# they describe the model as a whole ("what representations has the network learned?", "what
# image maximally activates this neuron?"); at the *local* end they explain a single decision
# ("why was input $x$ classified as $f(x)$?").
#
# A linear score makes the difference concrete. For $f(x) = w^\top x + b$ and a reference
# input (a *baseline*) $\bar x$, the contribution of feature $i$ is
#
# $$\phi_i(x) = w_i\,(x_i - \bar x_i), \qquad \sum_i \phi_i(x) = f(x) - f(\bar x).$$
#
# The decomposition is exact and the weights are the same for every input, so the local and
# the global explanation coincide. Here is the worked example that the exercise at the end
# checks first:

# %%
w, b = np.array([2.0, -1.0, 0.5]), 0.25
x, x_bar = np.array([1.0, 2.0, 3.0]), np.zeros(3)
phi = w * (x - x_bar)


def f(v):
    """The linear score w . v + b."""
    return v @ w + b


print("contributions phi =", phi)
print("sum of phi =", phi.sum(), "  f(x) - f(x_bar) =", f(x) - f(x_bar))

# %% [markdown]
# A CNN is not linear: the best linear description of it changes from input to input. Take a
# tiny two-input ReLU network with fixed weights. Its gradient $\nabla f(x)$ — the *local*
# linear explanation at $x$, the idea behind the saliency maps of lesson 2 — points in
# different directions at different inputs, while a *global* linear surrogate fitted to the
# whole input square gives one direction for all of them.

# %%
W1 = np.array([[2.0, 1.0], [-1.0, 2.0], [1.0, -2.0], [-2.0, -1.0]])
b1 = np.array([-0.5, 0.0, 0.5, 0.25])
w2 = np.array([1.0, -1.5, 1.0, 0.75])


def tiny_net(points):
    """f(x) = w2 . relu(W1 x + b1) for points of shape (N, 2)."""
    return np.maximum(points @ W1.T + b1, 0.0) @ w2


def tiny_net_gradient(points):
    """The exact gradient of tiny_net: W1^T (w2 * [W1 x + b1 > 0]), shape (N, 2)."""
    return ((points @ W1.T + b1 > 0) * w2) @ W1


# %% [markdown]
# A hand-derived gradient deserves a check that can fail: central finite differences. The
# network is piecewise linear, so away from a kink they are exact up to float64 rounding
# (about $10^{-16} / h$ with the step $h = 10^{-6}$).

# %%
h = 1e-6
test_points = np.random.default_rng(1).uniform(-1.0, 1.0, size=(200, 2))
finite = np.stack([(tiny_net(test_points + h * e) - tiny_net(test_points - h * e)) / (2 * h)
                   for e in np.eye(2)], axis=1)
result("tiny_net_gradient_vs_finite_differences",
       float(np.abs(finite - tiny_net_gradient(test_points)).max()), check=exact(0.0, atol=1e-6),
       note="max over 200 random points of |central difference - hand-derived gradient|")


# %%
n_grid = 41 if fast_mode() else 161
axis = np.linspace(-1.0, 1.0, n_grid)
grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
design = np.column_stack([grid, np.ones(len(grid))])
global_w = np.linalg.lstsq(design, tiny_net(grid), rcond=None)[0][:2]
probes = np.array([[-0.6, -0.6], [0.6, -0.5], [-0.5, 0.6], [0.55, 0.55], [0.0, 0.05]])
local_w = tiny_net_gradient(probes)
angles = np.degrees(np.arccos(
    local_w @ global_w / (np.linalg.norm(local_w, axis=1) * np.linalg.norm(global_w))))
print("local gradients:\n", local_w, "\nglobal surrogate weights:", global_w.round(3))
print("angle between each local gradient and the global direction (deg):", angles.round(1))

# %%
fig, ax = plt.subplots(figsize=(5.4, 4.8))
surface = ax.contourf(axis, axis, tiny_net(grid).reshape(n_grid, n_grid), levels=20,
                      cmap="RdBu_r")
fig.colorbar(surface, ax=ax, label="f(x)")
arrows = [(local_w, "black", "local: gradient at x"),
          (np.tile(global_w, (len(probes), 1)), "gold", "global: linear surrogate")]
for vectors, colour, label in arrows:
    vectors = 0.3 * vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ax.quiver(probes[:, 0], probes[:, 1], vectors[:, 0], vectors[:, 1], color=colour,
              angles="xy", scale_units="xy", scale=1, width=0.012, label=label)
ax.set(xlabel="$x_1$", ylabel="$x_2$", title="Local vs global explanations of a tiny ReLU net")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)
figure(fig, "fig_locality", caption="Local explanations (gradients, black) differ from input "
       "to input; a global linear surrogate (gold) gives one direction for all inputs.")

# %%
result("local_vs_global_max_angle_deg", float(angles.max()), check=recorded(rtol=1e-3),
       note="largest angle between a local gradient and the global surrogate direction "
            "(a closed-form computation: only float rounding and the grid move it)")

# %% [markdown]
# ## 1.4 The survey's four-way taxonomy
#
# Zhang et al. (2019, Fig. 1) organise CNN interpretability research into four aspects:
#
# 1. **Data characteristics and rule processing** — study the data or build known rules into
#    the model (feature selection, rule extraction such as DeepRED, rule-embedded networks).
# 2. **Model internal space analysis** — analyse the components: single units (activation
#    maximisation, deconvolution), layers, combinations of units (Net2Vec, concept activation
#    vectors, SVCCA), and perturbation of the input (occlusion, noise, adversarial examples,
#    LIME).
# 3. **Explaining the predictions** — post-hoc explanations of a result: feature importance
#    (DeepLIFT, LRP, SHAP, integrated gradients, L2X), textual explanations, and
#    visualisation (gradients, deconvnet, guided backprop, SmoothGrad, CAM, Grad-CAM).
# 4. **Model interpretation** — the whole model: simulating it with an interpretable one,
#    or building an interpretable model (explanatory graphs, interpretable CNNs).
#
# The diagram reproduces the structure of their Fig. 1 and marks where the kit's lessons sit.

# %%
TAXONOMY = {
    "Data characteristics\nand rule processing": ["feature selection", "rule extraction",
                                                  "rule-embedded networks"],
    "Model internal\nspace analysis": ["activation maximisation (lesson 12)",
                                       "deconvnet (lesson 4)", "occlusion (lesson 3)",
                                       "LIME (lesson 6)"],
    "Explaining\nthe predictions": ["saliency, class models (lesson 2)",
                                    "SmoothGrad, IG (lesson 4)", "CAM, Grad-CAM (lesson 5)",
                                    "SHAP (6); LRP, DeepLIFT (7)"],
    "Model\ninterpretation": ["surrogate models (lesson 14)", "explanatory graphs",
                              "interpretable CNNs (lesson 15)"],
}


# %%
def draw_taxonomy(taxonomy):
    fig, ax = plt.subplots(figsize=(11, 3.3))
    ax.set(xlim=(0, 4), ylim=(0.75, 3.15))
    ax.axis("off")
    box = dict(boxstyle="round,pad=0.4", facecolor="#dde8f5", edgecolor="#31588a")
    ax.text(2, 2.9, "Interpretability of CNNs", ha="center", va="center", fontsize=12,
            fontweight="bold", bbox=box)
    for i, (aspect, examples) in enumerate(taxonomy.items()):
        x = 0.5 + i
        ax.annotate("", xy=(x, 2.25), xytext=(2, 2.72), arrowprops=dict(arrowstyle="->"))
        ax.text(x, 2.0, aspect, ha="center", va="center", fontsize=10,
                bbox=dict(box, facecolor="#f5ecd9", edgecolor="#8a6d31"))
        ax.text(x, 1.68, "\n".join(examples), ha="center", va="top", fontsize=8.5,
                linespacing=1.6)
    return fig


figure(draw_taxonomy(TAXONOMY), "fig1_taxonomy",
       caption="The four aspects of CNN interpretability (structure of Fig. 1 of Zhang et al., "
               "2019), with examples and the lessons of this kit that cover them.")

# %% [markdown]
# ## 1.5 Table 1: feature-importance methods compared
#
# The survey's Table 1 (adapted from the L2X paper, Chen et al., 2018) compares six
# feature-importance methods by four properties. *Training*: does the method need training on a
# data set? *Efficiency*: the time of a single explanation. *Locality*: is the explanation
# *locally additive* — do the feature scores add up to the model's output, as the $\phi_i$ of
# §1.3 do? *Model-agnostic*: does it work on a black box?

# %%
TABLE1 = [
    # method, reference in the survey, training, efficiency, locality, model-agnostic, lesson
    ("LIME", "[27] Ribeiro et al. 2016", "No", "Low", "Yes", "Yes", "06"),
    ("DeepLIFT", "[28] Shrikumar et al. 2017", "No", "High", "Yes", "No", "07"),
    ("LRP", "[29] Bach et al. 2015", "No", "High", "Yes", "No", "07"),
    ("SHAP", "[30] Lundberg & Lee 2017", "No", "Low", "Yes", "Yes", "06 (KernelSHAP)"),
    ("Integrated gradient", "[31] Sundararajan et al. 2017", "No", "High", "No", "Yes", "04"),
    ("L2X", "[7] Chen et al. 2018", "Yes", "High", "No", "Yes", "not in the kit"),
]
COLUMNS = ["Method", "Reference", "Training", "Efficiency", "Locality", "Model-agnostic",
           "Lesson here"]
table([dict(zip(COLUMNS, row)) for row in TABLE1], "table1_feature_importance",
      caption="Table 1 of Zhang et al. (2019): feature importance methods comparison, with "
              "the lesson of this kit that implements each method.")

# %% [markdown]
# > **Paper vs here.** The table above is the survey's Table 1 cell for cell; the last column
# > is ours. Two of its entries deserve a second look, and later lessons measure them:
# > integrated gradients is marked *not* locally additive although its scores satisfy
# > *completeness* — they sum to $f(x) - f(\bar x)$, exactly the property of §1.3 (lesson 4
# > measures the gap numerically) — and it is marked model-agnostic although it needs the
# > model's gradients: it works for *any differentiable* model, not for a black box. The
# > table's properties are claims to test, not facts to memorise.
#
# The table lets us ask questions in code, for instance which methods treat the model as a
# black box and which need to open it:

# %%
for agnostic in ("Yes", "No"):
    names = [row[0] for row in TABLE1 if row[5] == agnostic]
    print(f"model-agnostic = {agnostic}: {', '.join(names)}")

# %% [markdown]
# ## 1.6 A map of the course
#
# The lessons follow the distinctions above: first explanations of single decisions (local,
# post-hoc), from the cheapest gradient to perturbation and relevance propagation, then how to
# evaluate them, then interpretation of the model as a whole.

# %%
LESSONS = [
    ("02", "Saliency maps and class models",
     "class model visualisation, gradient saliency, weakly supervised localisation "
     "(Simonyan et al. 2014)", "global and local, gradient"),
    ("03", "Occlusion", "occlusion sensitivity (Zeiler & Fergus 2014)", "local, perturbation"),
    ("04", "Noisy gradients",
     "gradient × input, SmoothGrad, interior and integrated gradients; deconvnet and guided "
     "backpropagation", "local, gradient"),
    ("05", "Grad-CAM", "CAM (Zhou et al. 2016), Grad-CAM and guided Grad-CAM (Selvaraju et al. "
     "2017)", "local, activations × gradients"),
    ("06", "Perturbation and surrogates",
     "RISE, LIME, KernelSHAP, meaningful perturbation (Fong & Vedaldi 2017)",
     "local, model-agnostic"),
    ("07", "Relevance propagation", "LRP (Bach et al. 2015), DeepLIFT (Shrikumar et al. 2017)",
     "local, modified backward pass"),
    ("08", "Sanity checks", "model and data randomisation tests, input invariance",
     "evaluation"),
    ("09", "Ground truth", "localisation against known objects and parts, feature coverage",
     "evaluation"),
    ("10", "Faithfulness", "deletion and insertion (AOPC), ROAR / KAR", "evaluation"),
    ("11", "Robustness", "stability of explanations under small perturbations", "evaluation"),
    ("12", "Units", "activation maximisation, feature-map projections", "global, post-hoc"),
    ("13", "Dissection", "Network Dissection", "global, post-hoc"),
    ("14", "Concepts", "concept vectors (TCAV), surrogates, prototypes", "global, post-hoc"),
    ("15", "By design", "interpretable-by-design models", "ante-hoc"),
]
table([dict(zip(["Lesson", "Topic", "Techniques", "Kind"], row)) for row in LESSONS],
      "lesson_map", caption="Which lesson covers which technique.")

# %% [markdown]
# ## 1.7 Exercise: the exact explanation of a linear model
#
# Write `linear_attribution(weights, inputs, baseline=0.0)` that returns the contributions
# $\phi_{n,i} = w_i\,(x_{n,i} - \bar x_i)$ for a batch of inputs of shape `(N, D)`, with a
# baseline that is a number or a vector of shape `(D,)`. The result has shape `(N, D)`.
# Use NumPy broadcasting, no loops. The first public check is the worked example of §1.3.


# %%
def linear_attribution(weights, inputs, baseline=0.0):
    """Return phi of shape (N, D) with phi[n, i] = weights[i] * (inputs[n, i] - baseline[i])."""
    raise NotImplementedError("your code here")


check("01.linear_attribution", linear_attribution)

# %% [markdown]
# When your function passes, convince yourself of completeness: each row of
# `linear_attribution(w, X, x_bar)` sums to `f(X) - f(x_bar)`. For a linear model this is
# algebra, not an experiment (the sum telescopes to $w^\top (x - \bar x)$), so the lesson
# prints it rather than checking it; lessons 4 and 7 measure completeness where it can fail.

# %%
rng = np.random.default_rng(0)
X = rng.uniform(-1.0, 1.0, size=(8, 3))
phi_batch = w[None, :] * (X - x_bar)
print("max |sum_i phi_i - (f(x) - f(x_bar))| over 8 inputs:",
      np.abs(phi_batch.sum(axis=1) - (f(X) - f(x_bar))).max())

# %% [markdown]
# ## Summary
#
# * *Interpretation* asks what a model has learned; *explanation* asks which parts of an input
#   a prediction used (Oramas).
# * *Ante-hoc* models are interpretable by construction; *post-hoc* methods interpret a trained
#   model, from *global* (the whole model) to *local* (one decision) (Kim).
# * The survey sorts the field into four aspects — data and rules, internal space, explaining
#   predictions, model interpretation — and compares feature-importance methods by training,
#   efficiency, locality and model-agnosticism (Table 1).
# * For a linear model the attribution $w_i (x_i - \bar x_i)$ is exact and complete; the local
#   methods of the next lessons approximate such a decomposition for a CNN, where the best
#   linear description changes from input to input.
#
# ## Exercises
#
# *How your code is graded:* the grader runs your imports, your functions and the module-level
# assignments they use — not the rest of the notebook — on the public checks below and on
# hidden cases of the same kinds, and compares the outputs with a reference solution.
#
# 1. Solve `linear_attribution` above until its public checks pass.
# 2. Which rows of Table 1 would change if "model-agnostic" meant "needs only the model's
#    outputs, no gradients"? Say why for each.
# 3. In §1.3, move a probe point across a kink of the ReLU network (where a hidden unit
#    switches on or off). What happens to the local gradient, and what does that predict for
#    gradient-based saliency maps of a CNN?
# 4. Name one question about a CNN that only a global method can answer, and one that only a
#    local method can answer.
#
# ## References
#
# - Zhang, W., Cai, L., Chen, M. & Wang, N. (2019). Progress in interpretability research of convolutional neural networks. MobiCASE 2019, Springer LNICST 290. doi:10.1007/978-3-030-28468-8_12.
# - Chen, J., Song, L., Wainwright, M. J. & Jordan, M. I. (2018). Learning to explain: An information-theoretic perspective on model interpretation. ICML 2018. arXiv:1802.07814.
# - Oramas, J. (2019). Model interpretation and explanation for deep neural networks (lecture slides). Course seed `002`.
# - Kim, B. (2019). Interpretable deep learning (lecture slides, KAIST / SI Analytics). Course seed `004`.
# - Bau, D., Zhou, B., Khosla, A., Oliva, A. & Torralba, A. (2017). Network dissection: Quantifying interpretability of deep visual representations. CVPR 2017. arXiv:1704.05796.
# - Buolamwini, J. & Gebru, T. (2018). Gender shades: Intersectional accuracy disparities in commercial gender classification. FAT* 2018, PMLR 81.
