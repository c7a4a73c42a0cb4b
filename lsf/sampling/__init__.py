"""Latent vectors from the measured distribution: samplers, latent paths, decoding to images and
the quality metrics that say which sampler makes faces."""
