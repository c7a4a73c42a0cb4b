"""`ray job submit` entry point for `lsf run` (same flags; connects to the job's cluster).

Run: ray job submit --address http://HEAD:8265 --working-dir . -- \
         python jobs/run.py --config jobs/configs/synthetic.yaml ...
"""

import sys

from lsf.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
