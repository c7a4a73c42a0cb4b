"""`ray job submit` entry point for `lsf compare` (same flags; connects to the job's cluster).

Run: ray job submit --address http://HEAD:8265 --working-dir . -- \
         python jobs/compare.py --config celeba-bn --workdir /shared/lsf-celeba-bn
"""

import sys

from lsf.cli import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
