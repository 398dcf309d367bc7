#!/usr/bin/env bash
# Static checks of the deployment files, which cannot run here (no Kubernetes, no
# container registry): deploy/k8s/digest-job.yaml parses (PyYAML, from PyPI when
# missing) and its parts agree with each other (shard count, volume, model cache);
# deploy/slurm/digest.sbatch and the scripts parse as bash; the Containerfile is a
# multi-stage build of the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import yaml' 2>/dev/null; then
    python3 -m pip install --quiet --target target/pyyaml pyyaml
    export PYTHONPATH=$PWD/target/pyyaml${PYTHONPATH:+:$PYTHONPATH}
fi
python3 - deploy/k8s/digest-job.yaml <<'PY'
import re, sys, yaml

path = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
def fail(msg):
    sys.exit(f"{path}: {msg}")
by_name = {d["metadata"]["name"]: d for d in docs}
pvcs = [n for n, d in by_name.items() if d["kind"] == "PersistentVolumeClaim"]
if len(pvcs) != 1:
    fail(f"expected one PersistentVolumeClaim, found {pvcs}")
jobs = {n: d for n, d in by_name.items() if d["kind"] == "Job"}
for name in ["abridge-model", "abridge-digest", "abridge-merge"]:
    if name not in jobs:
        fail(f"no Job {name}")
for name, job in jobs.items():
    pod = job["spec"]["template"]["spec"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]]
    if claims != pvcs:
        fail(f"{name} mounts {claims}, not the claim {pvcs}")
    for c in pod.get("initContainers", []) + pod["containers"]:
        if [m["mountPath"] for m in c["volumeMounts"]] != ["/data"]:
            fail(f"{name}/{c['name']} does not mount the volume at /data")

digest = jobs["abridge-digest"]["spec"]
if digest.get("completionMode") != "Indexed":
    fail("abridge-digest is not an Indexed Job")
shard = digest["template"]["spec"]["containers"][0]
script = " ".join(shard["command"])
count = re.search(r"--shard-count (\d+)", script)
if not count:
    fail("the shard container gives no --shard-count")
count = int(count.group(1))
if digest["completions"] != count or digest["parallelism"] != count:
    fail(f"completions/parallelism {digest['completions']}/{digest['parallelism']} vs --shard-count {count}")
env = {e["name"]: e["value"] for e in shard["env"]}
if env.get("HF_HOME") != "/data/hf" or env.get("HF_HUB_OFFLINE") != "1":
    fail(f"the shards do not read the model from the cache on the volume: {env}")
out = re.search(r"--out (\S+)", script).group(1)
merge = jobs["abridge-merge"]["spec"]["template"]["spec"]
if merge["containers"][0]["args"] != ["merge", out]:
    fail(f"the merge does not merge {out}")
wait = merge["initContainers"][0]
shards = {e["name"]: e["value"] for e in wait["env"]}["SHARDS"]
if int(shards) != count or out not in " ".join(wait["command"]):
    fail(f"the merge waits for {shards} shards in another folder than {count} in {out}")
model = jobs["abridge-model"]["spec"]["template"]["spec"]["containers"][0]
if {e["name"]: e["value"] for e in model["env"]}.get("HF_HOME") != "/data/hf":
    fail("the model download does not fill the cache the shards read")
print(f"{path}: {len(docs)} objects, {count} shards into {out}, merge after them")
PY

for script in deploy/slurm/digest.sbatch scripts/slurm-test.sh scripts/check-deploy.sh; do
    bash -n "$script"
done
[[ $(grep -c '^FROM ' Containerfile) -ge 2 ]] && grep -q 'COPY --from=build .*abridge' Containerfile \
    || { echo "Containerfile: not a multi-stage build of the binary" >&2; exit 1; }
echo "deploy: the sbatch file and the Containerfile parse"
