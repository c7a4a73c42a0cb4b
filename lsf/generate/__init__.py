"""Generation from statistical latent vectors: samplers, latent paths, decoding, metrics."""
