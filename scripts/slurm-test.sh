#!/usr/bin/env bash
# The sharded digest on a real Slurm cluster of one node, started here: munged,
# slurmctld and slurmd in the foreground under a private folder (their own key,
# config, ports and state), torn down on exit. Submits deploy/slurm/digest.sbatch as
# a 3-task array over a dozen small articles with --model tiny plus its dependent
# merge (afterok), and checks the merged index.md, manifest.jsonl and articles equal
# a single-machine run's, timings aside. Then a shard cancelled mid-way (scancel)
# and resubmitted alone: merge first refuses the incomplete run naming it, and after
# the resubmission the run is whole again with no article generated twice (request
# log) and none of the cancelled shard's finished articles rewritten.
# Prints the Slurm run's wall time against one process over the same inputs.
#
#   scripts/slurm-test.sh        # needs root (installs slurm-wlm and munge if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
abridge=$repo/target/release/abridge
[[ -x $abridge ]] || cargo build --release

work=$(mktemp -d /tmp/abridge-slurm.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ $status != 0 ]]; then
        echo "slurm-test: FAILED; logs in $work" >&2
        tail -n 20 "$work"/*.log "$work"/jobs/*.log 2>/dev/null >&2 || true
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
fail() {
    echo "slurm-test: $*" >&2
    exit 1
}

# munge: a key of our own and a socket of our own, so a munged already on this
# machine is neither used nor disturbed.
mkdir -p "$work/munge" && chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --foreground --force --key-file="$work/munge/munge.key" \
    --socket="$work/munge/munge.socket" --pid-file="$work/munge/munged.pid" \
    --log-file="$work/munged.log" --seed-file="$work/munge/munged.seed" \
    >"$work/munged.out.log" 2>&1 &
pids+=($!)

host=$(hostname -s)
# Ports outside the defaults: a real slurmctld on this machine keeps its own.
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/state" "$work/spool" "$work/jobs"
# What slurmd finds, less a margin: a node that reports less than this is drained.
memory=$(awk '/^MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=abridge-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=60
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

for _ in $(seq 50); do [[ -S $work/munge/munge.socket ]] && break; sleep 0.1; done
[[ -S $work/munge/munge.socket ]] || fail "munged did not start"
slurmctld -D -i >"$work/slurmctld.out.log" 2>&1 &
pids+=($!)
slurmd -D -N "$host" >"$work/slurmd.out.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
    state=$(sinfo -h -N -o %t 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.2
done
[[ ${state:-} == idle ]] || fail "the node did not come up (state ${state:-none})"

# A dozen short articles, each a fixture feed article under a title of its own.
python3 - "$work/in" <<'PY'
import json, os, sys
out = sys.argv[1]
os.makedirs(out)
texts = [json.loads(l)["text"] for l in open("tests/fixtures/articles/feed.jsonl") if l.strip()]
for i in range(12):
    with open(os.path.join(out, f"a{i}.txt"), "w") as f:
        f.write(f"Story {i}\n\n{texts[i % len(texts)]}")
PY

args="--model tiny --sentences 1"
export ABRIDGE=$abridge ABRIDGE_IN=$work/in ABRIDGE_ARGS=$args
unset ABRIDGE_SHARDS SLURM_ARRAY_TASK_ID JOB_COMPLETION_INDEX

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }
mtime_ns() { python3 -c 'import os, sys; print(os.stat(sys.argv[1]).st_mtime_ns)' "$1"; }
# Waits until none of the jobs is pending or running.
wait_jobs() {
    for _ in $(seq 3000); do
        [[ -z $(squeue -h -j "$(IFS=,; echo "$*")" -t PD,R,CG -o %i 2>/dev/null) ]] && return
        sleep 0.2
    done
    fail "jobs $* did not finish"
}
# The state of every task of job $1, one per line.
states() { scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
# --model tiny needs far less than the 4G the sbatch file asks for a real model.
submit() { sbatch --parsable --mem=1G --chdir="$work/jobs" --output="$work/jobs/%x-%A_%a.log" "$@"; }

# One process over the same inputs, with the same threads as the array has in all.
start=$(now)
"$abridge" --threads 2 digest "$work/in" --out "$work/single" $args 2>"$work/single.log"
single=$(since "$start")

# The array and its merge.
start=$(now)
array=$(ABRIDGE_OUT=$work/sharded submit --array=0-2 --cpus-per-task=1 deploy/slurm/digest.sbatch)
merge=$(ABRIDGE_OUT=$work/sharded submit --dependency=afterok:"$array" deploy/slurm/digest.sbatch merge)
wait_jobs "$array" "$merge"
sharded=$(since "$start")
[[ $(states "$array" | sort -u) == COMPLETED ]] || fail "array $array: $(states "$array" | tr '\n' ' ')"
[[ $(states "$merge") == COMPLETED ]] || fail "merge $merge: $(states "$merge")"

# The files a reader sees, timings taken out, skipped read as ok (a resumed shard
# reports what an earlier attempt did as skipped).
compare() {
    python3 - "$1" "$2" <<'PY'
import json, os, sys
def files(d):
    out = {}
    for n in sorted(os.listdir(d)):
        if n.startswith(".") or n.startswith("shard-") or n.startswith("manifest.shard-"):
            continue
        text = open(os.path.join(d, n)).read()
        if n == "manifest.jsonl":
            lines = []
            for l in text.splitlines():
                e = json.loads(l)
                e["seconds"] = None
                e["status"] = "ok" if e["status"] == "skipped" else e["status"]
                lines.append(json.dumps(e, sort_keys=True))
            text = "\n".join(lines)
        else:
            text = "\n".join(l for l in text.splitlines() if not l.startswith("seconds:"))
        out[n] = text
    return out
a, b = files(sys.argv[1]), files(sys.argv[2])
if a != b:
    for n in sorted(set(a) | set(b)):
        if a.get(n) != b.get(n):
            print(f"differs: {n}", file=sys.stderr)
    sys.exit(1)
entries = [json.loads(l) for l in open(os.path.join(sys.argv[1], "manifest.jsonl"))]
ok = [e for e in entries if e["status"] in ("ok", "skipped")]
if len(entries) != 12 or len(ok) != 12:
    sys.exit(f"expected 12 articles done, the manifest has {len(entries)} lines, {len(ok)} done")
PY
}
compare "$work/sharded" "$work/single" || fail "the merged run differs from the single-machine run"
echo "slurm-test: 3 shards + merge match one process over 12 articles"

# A shard cancelled once it has finished an article, then resubmitted alone. One
# article at a time, so that there is a moment between a shard's first and last.
out=$work/killed
export ABRIDGE_REQUEST_LOG=$work/requests.jsonl ABRIDGE_ARGS="$args --jobs 1"
array=$(ABRIDGE_OUT=$out submit --array=0-2 --cpus-per-task=1 deploy/slurm/digest.sbatch)
merge=$(ABRIDGE_OUT=$out submit --dependency=afterok:"$array" deploy/slurm/digest.sbatch merge)
victim=
for _ in $(seq 3000); do
    for i in 0 1 2; do
        manifest=$out/manifest.shard-$i-of-3.jsonl
        if [[ -s $manifest && ! -e $out/shard-$i-of-3.done ]] \
            && [[ $(squeue -h -j "${array}_$i" -t R -o %i 2>/dev/null) ]]; then
            victim=$i
            break 2
        fi
    done
    sleep 0.1
done
[[ -n $victim ]] || fail "no shard was caught between its first and last article"
scancel "${array}_$victim"
wait_jobs "$array"
[[ ! -e $out/shard-$victim-of-3.done ]] || fail "shard $victim finished before it was cancelled; rerun"
[[ $(states "$merge") != COMPLETED ]] || fail "the merge ran after a cancelled shard"
scancel "$merge" 2>/dev/null || true
refusal=$("$abridge" merge "$out" 2>&1) && fail "merge accepted a run missing shard $victim"
[[ $refusal == *"shard $victim of 0-2 did not finish (no shard-$victim-of-3.done)"* ]] \
    || fail "merge's refusal: $refusal"
echo "slurm-test: merge refused the run without shard $victim: $refusal"
before=$(python3 - "$out/manifest.shard-$victim-of-3.jsonl" "$out" <<'PY'
import json, os, sys
for l in open(sys.argv[1]):
    try:
        e = json.loads(l)
    except ValueError:
        continue
    if e["status"] == "ok":
        print(e["output"], os.stat(os.path.join(sys.argv[2], e["output"])).st_mtime_ns)
PY
)
[[ -n $before ]] || fail "the cancelled shard had finished nothing"

again=$(ABRIDGE_OUT=$out ABRIDGE_SHARDS=3 submit --array="$victim" --cpus-per-task=1 deploy/slurm/digest.sbatch)
merge=$(ABRIDGE_OUT=$out submit --dependency=afterok:"$again" deploy/slurm/digest.sbatch merge)
wait_jobs "$again" "$merge"
[[ $(states "$again") == COMPLETED && $(states "$merge") == COMPLETED ]] \
    || fail "resubmitted shard $again: $(states "$again"), merge $merge: $(states "$merge")"
compare "$out" "$work/single" || fail "the resumed run differs from the single-machine run"
while read -r name mtime; do
    [[ $(mtime_ns "$out/$name") == "$mtime" ]] || fail "$name, finished before the cancel, was written again"
done <<<"$before"
# Every article's first request was sent once: nothing was generated twice.
python3 - "$ABRIDGE_REQUEST_LOG" <<'PY' || fail "an article was generated twice"
import collections, json, sys
firsts = collections.Counter(json.loads(l)["article"] for l in open(sys.argv[1]) if json.loads(l)["seq"] == 0)
twice = [a for a, n in firsts.items() if n != 1]
if len(firsts) != 12 or twice:
    sys.exit(f"{len(firsts)} articles started, twice: {twice}")
PY
kept=$(wc -l <<<"$before")
echo "slurm-test: shard $victim cancelled after $kept articles, resubmitted: whole run, nothing done twice"

printf 'slurm-test: 12 articles, --model tiny: one process (--threads 2) %.1f s, Slurm 3-task array (1 CPU each, 2 CPUs) + merge %.1f s\n' \
    "$single" "$sharded"
