"""`ray job submit` entry point for `lsf import` (same flags).

Run: ray job submit --address http://HEAD:8265 --working-dir . -- \
         python jobs/import.py --latents /shared/latents.npy --out /shared/latents.zarr
"""

import sys

from lsf.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", *sys.argv[1:]]))
