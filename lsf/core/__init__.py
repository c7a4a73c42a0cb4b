"""Infrastructure every stage shares: typed config, the latent store contract, outputs written
atomically, output locks, one-line errors, the Ray connection, resumable pass checkpoints and
the progress/log hook."""
