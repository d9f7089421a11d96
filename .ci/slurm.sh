#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for CI (Debian/Ubuntu, run as root).
#
#   .ci/slurm.sh available   exit 0 when this machine can run it (root, and SLURM installed or
#                            installable with apt-get)
#   .ci/slurm.sh start       install slurmctld/slurmd/slurm-client/munge if needed, write
#                            /etc/slurm/slurm.conf, start munged, slurmctld and slurmd in the
#                            background and wait until the node is idle
#   .ci/slurm.sh stop        cancel leftover jobs, stop the daemons this script started (their PIDs
#                            are in $BERTQ_SLURM_DIR/pids); fails if one of them survives
#
# The config must live at /etc/slurm/slurm.conf: the Snakemake SLURM plugin's job step strips every
# SLURM_* variable (SLURM_CONF too) before its inner `srun`, so a config elsewhere is not found
# inside jobs. There is no slurmdbd: `sacct` does not work, so Snakemake must poll with `squeue`,
# which only sees a finished job for MinJobAge seconds (see profiles/slurm/config.yaml).
set -euo pipefail

DIR=${BERTQ_SLURM_DIR:-/tmp/bertq-slurm}
PIDS=$DIR/pids
CONF=/etc/slurm/slurm.conf
PACKAGES=(slurmctld slurmd slurm-client munge)
START_TIMEOUT=${BERTQ_SLURM_START_TIMEOUT:-60}
export PATH=$PATH:/usr/sbin:/sbin

say() { echo "slurm.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }
# The first line of a text. Never `cmd | head -n 1` or `cmd | grep -q`: under pipefail the reader
# exits early, the writer dies of SIGPIPE and the pipeline fails (exit 141) although it matched.
first_line() { local text=$1; printf '%s\n' "${text%%$'\n'*}"; }

installed() {
    local p
    for p in slurmctld slurmd sinfo sbatch squeue scontrol munged; do
        command -v "$p" >/dev/null 2>&1 || return 1
    done
}

apt_install() {
    # Keep the packages' maintainer scripts from starting the daemons themselves (they would hold
    # the ports, with the packaged config): policy-rc.d exit 101 = "action forbidden".
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    say "installing ${PACKAGES[*]} (log: $DIR/apt.log)"
    if ! apt-get install -y -qq "${PACKAGES[@]}" >"$DIR/apt.log" 2>&1; then
        # a fresh image may have no package lists yet
        { apt-get update -qq && apt-get install -y -qq "${PACKAGES[@]}"; } >>"$DIR/apt.log" 2>&1 || rc=$?
    fi
    if [ "$made_policy" = 1 ]; then rm -f "$policy"; trap - EXIT; fi
    if [ "$rc" != 0 ]; then
        tail -n 30 "$DIR/apt.log" >&2
        die "apt-get install ${PACKAGES[*]} failed (exit $rc)"
    fi
}

cmd_available() {
    [ "$(id -u)" = 0 ] || return 1
    installed && return 0
    command -v apt-get >/dev/null 2>&1 || return 1
    candidate() { grep -q 'Candidate: [0-9]' <<<"$(apt-cache policy slurmctld 2>/dev/null || true)"; }
    candidate || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 && candidate; }
}

alive() {  # alive NAME PID: the PID runs and is that daemon (not a recycled PID, not a zombie)
    [ -d "/proc/$2" ] && [ "$(cat "/proc/$2/comm" 2>/dev/null)" = "$1" ] &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$2/status" 2>/dev/null
}

running() {  # running PID: the process exists and is not a zombie (while starting, its name may
             # still be setsid's or setpriv's, before they exec the daemon)
    [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

record() { echo "$1 $2" >>"$PIDS"; }

descendants() {  # descendants PID: its children, grandchildren, ...
    local c
    for c in $(pgrep -P "$1" || true); do
        echo "$c"
        descendants "$c"
    done
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

cluster_answers() { sinfo -h -o %t >/dev/null 2>&1; }

show_logs() {
    local f
    for f in "$DIR"/munged.log "$DIR"/slurmctld.log "$DIR"/slurmd.log; do
        [ -s "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        tail -n 40 "$f" >&2
    done
}

write_conf() {
    local host cpus mem line
    host=$(hostname -s)
    # slurmd -C prints this machine's node line (CPUs, topology, RealMemory in MB).
    line=$(first_line "$(slurmd -C)")
    cpus=$(sed -n 's/.*\bCPUs=\([0-9]*\).*/\1/p' <<<"$line")
    mem=$(sed -n 's/.*\bRealMemory=\([0-9]*\).*/\1/p' <<<"$line")
    [ -n "$cpus" ] && [ -n "$mem" ] || die "cannot read CPUs and RealMemory from 'slurmd -C': $line"
    mkdir -p /etc/slurm "$DIR/state" "$DIR/slurmd"
    if [ -s "$CONF" ] && ! grep -q '^# Written by .ci/slurm.sh' <<<"$(first_line "$(cat "$CONF")")"; then
        cp -p "$CONF" "$CONF.before-bertq" && say "kept the existing $CONF as $CONF.before-bertq"
    fi
    # Each CPU (hardware thread) is a schedulable unit (CR_CPU_Memory; the node is declared with
    # CPUs only, no socket/core/thread layout), so 1-CPU jobs run side by side even on machines with
    # two threads per core, where CR_Core would give every job a whole core.
    cat >"$CONF" <<EOF
# Written by .ci/slurm.sh: a one-node CI cluster on localhost (no accounting database).
ClusterName=bertq-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# A job without --mem gets this much per CPU instead of the whole node.
DefMemPerCPU=$(( mem / cpus < 1024 ? mem / cpus : 1024 ))
# squeue (and scontrol show job) keep a finished job this long; without slurmdbd that is the only
# record of its end state, and Snakemake's status polling needs it: MinJobAge must be at least
# 3 x slurm-init-seconds-before-status-checks (profiles/slurm/config.yaml).
MinJobAge=600
ReturnToService=2
KillWait=5
InactiveLimit=0
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    say "wrote $CONF: node $host, $cpus CPUs, $mem MB"
}

start_munge() {
    if munge_works; then
        say "munged already answers; using it"
        return
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile=/etc/munge/munge.key --force
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        fi
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge /var/log/munge
    chmod 0755 /run/munge
    chmod 0400 /etc/munge/munge.key
    # setpriv execs munged (no intermediate process), so $! is munged's PID; -F keeps it in the
    # foreground of its own session (setsid), detached from this script.
    setsid setpriv --reuid=munge --regid=munge --init-groups \
        munged -F --force --log-file="$DIR/munged.log" </dev/null >>"$DIR/munged.log" 2>&1 &
    local pid=$! i
    record munged "$pid"
    for i in $(seq 50); do
        munge_works && return
        running "$pid" || break
        sleep 0.2
    done
    show_logs
    die "munged did not start"
}

cmd_start() {
    [ "$(id -u)" = 0 ] || die "must run as root (the daemons and /etc/slurm/slurm.conf need it)"
    mkdir -p "$DIR"
    if [ -s "$PIDS" ]; then
        local name pid running=1
        while read -r name pid; do alive "$name" "$pid" || running=0; done <"$PIDS"
        if [ "$running" = 1 ] && [ "$(first_line "$(sinfo -h -o %t 2>/dev/null || true)")" = idle ]; then
            say "already running ($(tr '\n' ' ' <"$PIDS"))"
            return
        fi
        say "stale or partial cluster in $PIDS; stopping it first"
        cmd_stop
    fi
    if installed; then
        say "SLURM and munge already installed"
    else
        command -v apt-get >/dev/null 2>&1 || die "SLURM is not installed and there is no apt-get"
        apt_install
        installed || die "packages installed but the SLURM/munge commands are missing"
    fi
    if cluster_answers; then
        die "a SLURM controller already answers (sinfo works) that this script did not start"
    fi
    rm -rf "$DIR/state" "$DIR/slurmd" "$DIR"/*.log "$DIR"/*.out "$DIR"/*.pid
    : >"$PIDS"
    write_conf
    cd "$DIR"  # the daemons' working directory
    start_munge
    setsid slurmctld -D -i </dev/null >>"$DIR/slurmctld.out" 2>&1 &
    record slurmctld $!
    setsid slurmd -D </dev/null >>"$DIR/slurmd.out" 2>&1 &
    record slurmd $!
    local waited=0 state=""
    while [ "$waited" -lt "$((START_TIMEOUT * 2))" ]; do
        state=$(first_line "$(sinfo -h -o %t 2>/dev/null || true)")
        if [ "$state" = idle ]; then
            say "cluster up: partition $(first_line "$(sinfo -h -o %P)"), node $(sinfo -h -o '%N %c CPUs %m MB'), idle after $((waited / 2)) s"
            return
        fi
        local name pid
        while read -r name pid; do
            if ! running "$pid"; then
                for f in "$DIR/$name.out"; do [ -s "$f" ] && { echo "----- $f" >&2; tail -n 20 "$f" >&2; }; done
                show_logs
                die "$name (pid $pid) exited during start-up"
            fi
        done <"$PIDS"
        sleep 0.5
        waited=$((waited + 1))
    done
    sinfo >&2 || true
    show_logs
    die "the node is not idle after ${START_TIMEOUT} s (last sinfo state: '${state:-no answer}')"
}

cmd_stop() {
    if [ ! -s "$PIDS" ]; then
        say "not running (no $PIDS)"
        return 0
    fi
    # Jobs first: slurmstepd and the job's processes outlive slurmd otherwise.
    if cluster_answers; then
        local jobs
        jobs=$(squeue -h -o %i -t PENDING,RUNNING,SUSPENDED,CONFIGURING,COMPLETING 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            say "cancelling jobs: $(echo $jobs)"
            # shellcheck disable=SC2086
            scancel $jobs || true
            local i
            for i in $(seq 20); do
                [ -z "$(squeue -h -o %i -t RUNNING,COMPLETING,CONFIGURING 2>/dev/null || true)" ] && break
                sleep 0.5
            done
        fi
    fi
    # slurmstepd processes of jobs that did not end (they hold our slurmd's log open): stopped too
    local stepds="" p
    for p in $(pgrep -x slurmstepd || true); do
        grep -q -- "-> $DIR/" <<<"$(ls -l "/proc/$p/fd" 2>/dev/null || true)" && stepds="$stepds $p"
    done
    if [ -n "$stepds" ]; then
        say "stopping job step daemons left behind, with their jobs' processes:$stepds"
        for p in $stepds; do
            local q
            for q in $(descendants "$p"); do
                echo "$(cat "/proc/$q/comm" 2>/dev/null || echo gone) $q job" >>"$PIDS"
            done
            echo "slurmstepd $p" >>"$PIDS"
        done
    fi
    local name pid order survivors=""
    # job steps, slurmd, slurmctld, and munged last (the SLURM daemons authenticate through it)
    for order in job slurmstepd slurmd slurmctld munged; do
        while read -r name pid kind; do
            [ "${kind:-$name}" = "$order" ] || continue  # lines: "NAME PID" or "NAME PID job"
            alive "$name" "$pid" || continue
            kill -TERM "$pid" 2>/dev/null || true
            local i
            for i in $(seq 20); do alive "$name" "$pid" || break; sleep 0.25; done
            if alive "$name" "$pid"; then
                say "$name (pid $pid) ignored TERM; sending KILL"
                kill -KILL "$pid" 2>/dev/null || true
                for i in $(seq 20); do alive "$name" "$pid" || break; sleep 0.25; done
            fi
        done <"$PIDS"
    done
    while read -r name pid _; do
        alive "$name" "$pid" && survivors="$survivors $name($pid)"
    done <"$PIDS"
    if [ -n "$survivors" ]; then
        die "still running after TERM and KILL:$survivors"
    fi
    # Dead daemons stay zombies until whoever adopted them (init) reaps them: give it a moment, so
    # that pgrep shows nothing once this returns. A zombie holds nothing, so it is not a failure.
    local zombies="" i
    for i in $(seq 40); do
        zombies=""
        while read -r name pid _; do
            [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && zombies="$zombies $name($pid)"
        done <"$PIDS"
        [ -z "$zombies" ] && break
        sleep 0.25
    done
    [ -z "$zombies" ] || say "note: exited but not yet reaped by their parent:$zombies"
    rm -f "$PIDS"
    say "stopped"
}

case "${1:-}" in
    available) cmd_available ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    *) echo "usage: $0 available|start|stop" >&2; exit 2 ;;
esac
