"""Layer 3, the processing steps: one module per step, each step a function of a
frozen inputs object (:mod:`.registry`: one table per algorithm family).

Steps use the model, io and kernels; they never see the session, its
parameters or traitlets, so a step can run in another process.
"""
