#!/bin/sh
# perseus/galera entrypoint: start mariadbd in the foreground (logs go to stderr, i.e. docker logs),
# with the node-specific settings passed as arguments ("$@"), e.g.
#   --wsrep-node-name=n1 --wsrep-node-address=n1 --wsrep-cluster-address=gcomm://n1,n2,n3
#
# Bootstrap rule: only the node with GALERA_BOOTSTRAP=1 (n1) may create a cluster, and only if its
# datadir has never been part of one (no grastate.dat: Galera writes it as soon as the node starts
# with wsrep on). Once n1 has been in the cluster — e.g. it is started again after `docker kill` —
# it joins the existing cluster via --wsrep-cluster-address like any other node and never
# bootstraps a second one.
set -eu

datadir=/var/lib/mysql
for arg in "$@"; do
    case "$arg" in --datadir=*) datadir="${arg#--datadir=}" ;; esac
done
grastate="$datadir/grastate.dat"

if [ "${GALERA_BOOTSTRAP:-0}" = 1 ] && [ ! -e "$grastate" ]; then
    echo "perseus-galera: GALERA_BOOTSTRAP=1 and no $grastate: bootstrapping a new cluster" >&2
    exec mariadbd --wsrep-new-cluster "$@"
fi

# After a crash (SIGKILL) grastate.dat says `seqno: -1`: the last committed position is only in
# InnoDB. Recover it (what Debian's galera_recovery does under systemd) and pass it on, so the
# node can catch up by IST from a donor's gcache instead of a full SST. If recovery fails, start
# anyway: the node then gets a full SST.
if [ -e "$grastate" ] && grep -Eq '^seqno:[[:space:]]*-1' "$grastate"; then
    log=$(mktemp /tmp/wsrep-recover.XXXXXX)
    if mariadbd "$@" --wsrep-recover --disable-log-error 2>"$log"; then
        pos=$(sed -n 's/.*WSREP: Recovered position:[[:space:]]*//p' "$log" | tail -n 1)
    else
        pos=
    fi
    if [ -n "$pos" ]; then
        echo "perseus-galera: recovered position $pos after an unclean shutdown" >&2
        set -- "$@" "--wsrep-start-position=$pos"
    else
        echo "perseus-galera: position recovery failed, the node will need a full SST:" >&2
        cat "$log" >&2
    fi
    rm -f "$log"
fi

# Wait until every peer name in --wsrep-cluster-address resolves. Docker's DNS only knows a
# container once it has started, and Galera drops a peer it cannot resolve at start-up for good
# ("Failed to resolve tcp://n1:4567"); the bootstrapping node does not dial out either, so joiners
# that start a moment before n1 would never find it and abort after pc.wait_prim_timeout (30 s).
# A fresh joiner (no grastate.dat) must reach the bootstrap node, so it waits up to 60 s; a node
# that was in the cluster before waits at most 5 s (a peer may simply be down).
cluster=
for arg in "$@"; do
    case "$arg" in --wsrep[-_]cluster[-_]address=*) cluster="${arg#*=}" ;; esac
done
cluster="${cluster#gcomm://}"; cluster="${cluster%%\?*}"
if [ -e "$grastate" ]; then wait_s="${GALERA_PEER_WAIT:-5}"; else wait_s="${GALERA_PEER_WAIT:-60}"; fi
deadline=$(( $(date +%s) + wait_s ))
while :; do
    missing=
    for peer in $(echo "$cluster" | tr ',' ' '); do
        getent hosts "${peer%:*}" >/dev/null 2>&1 || missing="$missing ${peer%:*}"
    done
    [ -z "$missing" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "perseus-galera: peers not resolvable after ${wait_s}s:$missing; starting anyway" >&2
        break
    fi
    sleep 0.2
done

echo "perseus-galera: joining the cluster (GALERA_BOOTSTRAP=${GALERA_BOOTSTRAP:-0}, grastate.dat $([ -e "$grastate" ] && echo present || echo absent))" >&2
exec mariadbd "$@"
