"""Slow, obvious numpy versions of the numba kernels, to compare them with.

One module per kernel family, named as in :mod:`multidrizzle.kernels`::

    from support.references import drizzle as reference_drizzle

They are written from the definitions, share no code with the kernels and
are slow: meant for small arrays.
"""
