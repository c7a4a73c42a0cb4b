"""`ray job submit` entry point for `lsf pca` (same flags).

Run: ray job submit --address http://HEAD:8265 --working-dir . -- \
         python jobs/pca.py --latents /shared/latents.zarr --out /shared/pca --components 64
"""

import sys

from lsf.cli import main

if __name__ == "__main__":
    sys.exit(main(["pca", *sys.argv[1:]]))
