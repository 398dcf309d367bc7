"""llama.cpp's side of scripts/bench-vs-llamacpp.sh (run inside its venv).

Modes (all print one JSON line):
  speed MODEL IDS_FILE GEN THREADS   prefill the ids, then decode GEN tokens greedily
  e2e   MODEL IDS_FILE GEN THREADS   load + prefill + GEN greedy tokens: the whole
                                     process is timed by the caller
IDS_FILE holds the prompt token ids as a JSON list (abridge's, which match llama.cpp's).
"""

import json
import resource
import sys
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    mode, model, ids_file, gen, threads = sys.argv[1:6]
    gen, threads = int(gen), int(threads)
    ids = json.load(open(ids_file))
    t0 = time.perf_counter()
    llm = Llama(
        model_path=model,
        n_ctx=len(ids) + gen + 16,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=False,
        verbose=False,
    )
    load_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    llm.eval(ids)
    pp_s = time.perf_counter() - t1

    # greedy, past end-of-generation, for a fixed length like abridge bench
    n_vocab = llm.n_vocab()

    def argmax_last():
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(ptr, shape=(n_vocab,))))

    t2 = time.perf_counter()
    tok = argmax_last()
    for _ in range(gen - 1):
        llm.eval([tok])
        tok = argmax_last()
    tg_s = time.perf_counter() - t2

    print(
        json.dumps(
            {
                "mode": mode,
                "load_s": load_s,
                "prompt_tokens": len(ids),
                "pp_tok_s": len(ids) / pp_s,
                "tg_tok_s": (gen - 1) / tg_s if gen > 1 else 0.0,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
