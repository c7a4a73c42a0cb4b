"""lsf: latent space fragmentation.

Train a convolutional autoencoder on faces (Ray Train), encode every image into a chunked
Zarr latent store (Ray Data), measure the latent distribution (Dask) and generate faces
from statistical latent vectors. Run `lsf --help`, or `make run` for the built-in default.
"""

__version__ = "0.1.0"
