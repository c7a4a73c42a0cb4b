"""`ray job submit` entry point for `lsf explore` on a cluster: deploys the explore app as the
Ray Serve application `lsf-explore` (decoder replicas batch concurrent decodes) and returns;
the app keeps serving on port 8000 of the head node until `serve delete lsf-explore`.

Run: ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
         python jobs/explore.py --model /shared/run/model.pt --analysis /shared/analysis \
         --latents /shared/latents.zarr --replicas 4
then forward port 8000 (`kubectl port-forward svc/HEAD-svc 8000`) and open http://127.0.0.1:8000/.
"""

import sys

from lsf.cli import main

if __name__ == "__main__":
    sys.exit(main(["explore", "--serve", *sys.argv[1:]]))
