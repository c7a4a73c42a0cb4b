#!/usr/bin/env bash
# A local multi-node Ray cluster on one machine, for trying lsf's cluster path:
#   bash cluster/local-cluster.sh start [WORKERS]   # head + WORKERS worker nodes (default 2)
#   RAY_AUTH_MODE=disabled ray job submit --address http://127.0.0.1:8265 \
#       --runtime-env jobs/runtime_env.yaml -- \
#       python jobs/run.py --config tiny --workdir /tmp/lsf-work
#   bash cluster/local-cluster.sh stop              # ends this cluster's processes only
# Every node has its own temp folder, $LSF_RAY_TEMP/node-K. Nodes that share one (Ray's
# default on one machine) share the folder a job's working_dir is unpacked to, and each
# worker node that sets up the job's runtime env deletes and re-unpacks it under the running
# driver: the first job of each new working_dir then failed (numba's os.getcwd() raised
# FileNotFoundError); a second identical one found it unpacked on every node and passed.
# Every node's dashboard agent also gets a free port: Ray's fixed default (52365) lets only
# one agent per machine bind it, and job submission needs the head's.
# Settings: LSF_RAY_TEMP (/tmp/lsf-ray), LSF_RAY_PORT (6380), LSF_DASHBOARD_PORT (8265),
# LSF_NODE_CPUS (1 per node). Token authentication is off for this loopback-only cluster
# (RAY_AUTH_MODE=disabled); real clusters turn it on (RAY_AUTH_MODE=token).
set -euo pipefail
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} RAY_USAGE_STATS_ENABLED=0
root=${LSF_RAY_TEMP:-/tmp/lsf-ray}
port=${LSF_RAY_PORT:-6380}
dashboard=${LSF_DASHBOARD_PORT:-8265}
cpus=${LSF_NODE_CPUS:-1}
root=${root%/}
if [[ "$root" != /?* ]]; then
  echo "$0: error: LSF_RAY_TEMP must be an absolute folder other than /" >&2
  exit 2
fi

# The processes of this cluster: every Ray daemon names its node's temp or session folder,
# which lies under $root, on its command line; agents, workers and job drivers descend from
# them.
cluster_pids() {
  ps -eo pid=,ppid=,args= | LSF_ROOT="$root/" awk -v self=$$ '
    { pid[NR] = $1; parent[$1] = $2 }
    index($0, ENVIRON["LSF_ROOT"]) && $1 != self { mark[$1] = 1 }
    END {
      do {
        grown = 0
        for (i in pid)
          if (!(pid[i] in mark) && (parent[pid[i]] in mark)) { mark[pid[i]] = 1; grown = 1 }
      } while (grown)
      for (p in mark) print p
    }'
}

alive_nodes() {
  ray list nodes --address="http://127.0.0.1:$dashboard" --filter state=ALIVE --format json \
    --limit 1000 2>/dev/null | grep -o '"node_id"' | wc -l || true
}

case "${1:-start}" in
  start)
    workers=${2:-2}
    if [[ -n "$(cluster_pids)" ]]; then
      echo "$0: error: a cluster under $root is running; run '$0 stop' first" >&2
      exit 2
    fi
    mkdir -p "$root"
    # Ray processes that look for the cluster on their own (Ray Train's placement-group
    # cleaner asks the state API) find it in /tmp/ray/ray_current_cluster, which nodes with
    # their own temp folders do not write: name it to every process these nodes start.
    export RAY_API_SERVER_ADDRESS="http://127.0.0.1:$dashboard"
    ray start --head --node-ip-address=127.0.0.1 --port="$port" --dashboard-host=127.0.0.1 \
      --dashboard-port="$dashboard" --num-cpus="$cpus" --temp-dir="$root/node-0" \
      --dashboard-agent-listen-port=0 --disable-usage-stats
    for k in $(seq "$workers"); do
      ray start --address="127.0.0.1:$port" --node-ip-address=127.0.0.1 --num-cpus="$cpus" \
        --temp-dir="$root/node-$k" --dashboard-agent-listen-port=0 --disable-usage-stats
    done
    # Return once every node has registered, so that a job submitted next sees them all.
    for _ in $(seq 60); do
      alive=$(alive_nodes)
      [[ "$alive" -ge $((workers + 1)) ]] && break
      sleep 1
    done
    if [[ "$alive" -lt $((workers + 1)) ]]; then
      echo "$0: error: $alive of $((workers + 1)) nodes registered after 60 s" >&2
      exit 1
    fi
    ray status --address="127.0.0.1:$port"
    ;;
  stop)
    pids=$(cluster_pids)
    if [[ -z "$pids" ]]; then
      echo "no cluster running under $root"
      exit 0
    fi
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 25); do  # 5 s for a clean exit, then SIGKILL (gcs_server may not exit)
      left=$(cluster_pids)
      [[ -z "$left" ]] && break
      sleep 0.2
    done
    # shellcheck disable=SC2086
    [[ -n "${left:-}" ]] && kill -KILL $left 2>/dev/null || true
    echo "stopped the cluster under $root"
    ;;
  *)
    echo "usage: $0 start [WORKERS] | stop" >&2
    exit 2
    ;;
esac
