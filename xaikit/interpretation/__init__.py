"""What the model learned, rather than why it took one decision.

One module per technique family (see ``/work/shared/ARCHITECTURE.md``): ``units`` (filters,
feature maps, receptive fields, top activations), ``maximization`` (activation maximisation),
``inversion``, ``dissection`` (network dissection, compositional explanations, Net2Vec),
``concepts`` (CAV/TCAV, ACE, CRAFT), ``representations`` (CKA, SVCCA), ``surrogates``,
``examples`` (prototypes and criticisms), ``relevant_units`` (Oramas et al. 2019).
Interpretation may use :mod:`xaikit.attribution` and :mod:`xaikit.metrics`, never the reverse.
"""
