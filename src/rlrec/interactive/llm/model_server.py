"""`python -m rlrec.interactive.llm.model_server [llama_cpp.server options]`: llama-cpp-python's
OpenAI-compatible server with the model loaded as rlrec's llama.cpp backend loads it, without
weights repacked for the CPU's wide kernels (llamacpp.py: with them, batched prompt evaluation
crashed llama-cpp-python 0.3.36 on AVX-512 / AMX CPUs). Every option is llama_cpp.server's own.
"""

from __future__ import annotations

import runpy

from rlrec.interactive.llm.llamacpp import _model_defaults


def main() -> None:
    with _model_defaults(repack=False):
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
