"""llama.cpp's teacher-forced logits for a greedy fixture of tests/parity.rs (run
inside the venv of scripts/lib/llamacpp.sh: llama-cpp-python 0.3.36 built for this
CPU; the fixtures' logits come from an AVX-512 build).

  llamacpp_parity.py FIXTURE MODEL [--check]

Feeds the fixture's prompt_ids, then its generated_ids one at a time, and writes
llama.cpp's top-5 (ids, logits to 4 decimals) before each generated token as
`teacher_forced_top5`. With --check, compares with the top-5 already there instead
(how a build is shown to reproduce the existing fixtures) and writes nothing.
"""

import json
import sys

import llama_cpp
import numpy as np
from llama_cpp import Llama


def main():
    path, model = sys.argv[1:3]
    check = "--check" in sys.argv[3:]
    fx = json.load(open(path, encoding="utf-8"))
    prompt, generated = fx["prompt_ids"], fx["generated_ids"]
    llm = Llama(
        model_path=model,
        n_ctx=len(prompt) + len(generated) + 16,
        n_batch=512,
        logits_all=False,
        verbose=False,
    )
    n_vocab = llm.n_vocab()

    def top5():
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).copy()
        ids = np.argsort(-logits, kind="stable")[:5]
        return {
            "top_ids": [int(i) for i in ids],
            "top_logits": [round(float(logits[i]), 4) for i in ids],
        }

    steps = []
    llm.eval(prompt)
    for i, tok in enumerate(generated):
        steps.append(top5())
        if i + 1 < len(generated):
            llm.eval([tok])

    if check:
        old = fx["teacher_forced_top5"]
        same = sum(a == b for a, b in zip(old, steps))
        worst = max(
            abs(x - y)
            for a, b in zip(old, steps)
            for x, y in zip(a["top_logits"], b["top_logits"])
        )
        print(f"{path}: {same}/{len(old)} steps identical, worst logit diff {worst:.4f}")
        return
    fx["teacher_forced_top5"] = steps
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(fx, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
