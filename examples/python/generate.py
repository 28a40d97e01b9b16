"""generate.py -- stream a continuation of a prompt with Bittern's Python bindings.

    pip install bindings/python        # once; the library is found in build/lib (or $BITTERN_LIBRARY)
    python3 examples/python/generate.py                          # the bundled demo model, a default prompt
    python3 examples/python/generate.py "And God said" --max-tokens 60 --seed 7
    python3 examples/python/generate.py "Once upon a time" --model model.gguf --temperature 0

The text goes to stdout as it is generated; a timing line goes to stderr.
"""
import argparse
import sys

import bittern


def main(argv=None):
    ap = argparse.ArgumentParser(description="Stream a continuation of a prompt.")
    ap.add_argument("prompt", nargs="?", default="In the beginning", help="text to continue")
    ap.add_argument("--model", help="GGUF model file (default: the bundled demo model)")
    ap.add_argument("--max-tokens", type=int, default=128, help="tokens to generate at most (-1: until full)")
    ap.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    ap.add_argument("--top-k", type=int, default=40)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--min-p", type=float, default=0.05)
    ap.add_argument("--repeat-penalty", type=float, default=1.1)
    ap.add_argument("--seed", type=int, default=None, help="fixed seed for reproducible text")
    ap.add_argument("--stop", action="append", default=None, help="stop string (repeatable)")
    args = ap.parse_args(argv)

    try:
        model = bittern.Model(args.model)
    except bittern.BitternError as e:
        print("generate.py: %s" % e, file=sys.stderr)
        return 1

    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    gen = model.generate(args.prompt, max_tokens=args.max_tokens, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, min_p=args.min_p, repeat_penalty=args.repeat_penalty, seed=args.seed,
                         stop=args.stop)
    try:
        with gen:  # leaving the block early (Ctrl-C) cancels the generation
            for piece in gen:
                sys.stdout.write(piece)
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    except bittern.BitternError as e:
        print("\ngenerate.py: %s" % e, file=sys.stderr)
        return 1
    sys.stdout.write("\n")
    r = gen.result
    if r is not None:
        print("prompt: %d tokens in %.1f ms (%.0f tok/s); reply: %d tokens in %.1f ms (%.0f tok/s); finish: %s"
              % (r.n_prompt_tokens, r.prefill_ms, r.prefill_tokens_per_second, r.n_generated, r.decode_ms,
                 r.decode_tokens_per_second, r.finish_reason), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
