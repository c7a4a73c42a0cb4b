#!/usr/bin/env bash
# A local multi-node Ray cluster on one machine, for trying lsf's cluster path:
#   bash cluster/local-cluster.sh start [WORKERS]   # head + WORKERS extra nodes (default 2)
#   ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
#       python jobs/run.py --config jobs/configs/tiny.yaml --workdir /tmp/lsf-work
#   bash cluster/local-cluster.sh stop
# Token authentication is disabled for this loopback-only cluster (RAY_AUTH_MODE=disabled);
# real clusters keep it on.
set -euo pipefail
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} RAY_USAGE_STATS_ENABLED=0
case "${1:-start}" in
  start)
    workers=${2:-2}
    ray start --head --node-ip-address=127.0.0.1 --port=6380 --dashboard-host=127.0.0.1 \
      --dashboard-port=8265 --num-cpus=1 --disable-usage-stats
    for _ in $(seq "$workers"); do
      ray start --address=127.0.0.1:6380 --num-cpus=1 --disable-usage-stats
    done
    ray status --address=127.0.0.1:6380
    ;;
  stop)
    ray stop --force
    ;;
  *)
    echo "usage: $0 start [WORKERS] | stop" >&2
    exit 2
    ;;
esac
