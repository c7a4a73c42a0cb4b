"""The autoencoder (PyTorch modules, save/load), its plain training loop, and the files of a
finished training run."""
