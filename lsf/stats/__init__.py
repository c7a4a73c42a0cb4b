"""Streaming statistics of the latent store: pure per-chunk numpy/numba functions, combined
by Dask tree reductions (`lsf.stats.graph`), on the threaded scheduler or Dask-on-Ray."""
