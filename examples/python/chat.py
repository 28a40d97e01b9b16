"""chat.py -- an interactive chat with Bittern's Python bindings.

    pip install bindings/python        # once; the library is found in build/lib (or $BITTERN_LIBRARY)
    python3 examples/python/chat.py                               # the bundled demo model
    python3 examples/python/chat.py --model model.gguf --system "You are terse."
    printf 'Hello\\nHow are you?\\n' | python3 examples/python/chat.py

Reads one message per line until end of input (Ctrl-D) and streams each reply. The conversation and its
KV cache are kept between turns (only the new turn is decoded); when the conversation no longer fits the
context, the oldest exchanges are dropped. /reset starts over, /exit quits; Ctrl-C stops a reply. When stdin is not a terminal, each message is echoed after "> " so the output reads as a
transcript.
"""
import argparse
import sys

import bittern


def drop_oldest_exchange(chat):
    """Removes the first user message and the assistant reply after it (a system message stays).
    Returns False when there is nothing left to drop."""
    msgs = chat.messages
    first = 1 if msgs and msgs[0]["role"] == "system" else 0
    if len(msgs) - first < 2:
        return False
    del msgs[first:first + 2]
    return True


def reply_to(chat, line):
    """Streams the reply to one user message; returns its Generation (None if it could not start)."""
    while True:
        reply = chat.send(line)
        try:
            first = next(reply, None)  # the prompt is decoded here: a conversation too long fails now
        except bittern.BitternError as e:
            if e.status == bittern.E_CONTEXT_FULL and drop_oldest_exchange(chat):
                print("(dropped the oldest exchange to make room)", file=sys.stderr)
                continue
            raise
        break
    with reply:  # leaving the block early (Ctrl-C) stops the reply; what was shown is kept
        if first is not None:
            sys.stdout.write(first)
            sys.stdout.flush()
        for piece in reply:
            sys.stdout.write(piece)
            sys.stdout.flush()
    return reply


def main(argv=None):
    ap = argparse.ArgumentParser(description="Chat with a model, one message per line.")
    ap.add_argument("--model", help="GGUF model file (default: the bundled demo model)")
    ap.add_argument("--system", default=None, help="system message")
    ap.add_argument("--template", default=None, help="chat format: bitnet, llama3, chatml (default: the file's)")
    ap.add_argument("--max-tokens", type=int, default=128, help="tokens per reply at most")
    ap.add_argument("--n-ctx", type=int, default=0, help="context size (default: the model's)")
    ap.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    ap.add_argument("--repeat-penalty", type=float, default=1.1)
    ap.add_argument("--seed", type=int, default=None, help="fixed seed for reproducible replies")
    args = ap.parse_args(argv)

    try:
        model = bittern.Model(args.model)
    except bittern.BitternError as e:
        print("chat.py: %s" % e, file=sys.stderr)
        return 1
    interactive = sys.stdin.isatty()
    chat = bittern.Chat(model, system=args.system, template=args.template, n_ctx=args.n_ctx,
                        max_tokens=args.max_tokens, temperature=args.temperature,
                        repeat_penalty=args.repeat_penalty, seed=args.seed)
    print("chat (context %d tokens); /reset to start over, /exit or Ctrl-D to quit" % chat.context.n_ctx,
          file=sys.stderr)
    with chat:
        while True:
            if interactive:
                sys.stdout.write("> ")
                sys.stdout.flush()
            try:
                line = sys.stdin.readline()
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                break
            if not line:  # end of input
                if interactive:
                    sys.stdout.write("\n")
                break
            line = line.strip()
            if not line:
                continue
            if not interactive:
                sys.stdout.write("> %s\n" % line)
            if line in ("/exit", "/quit"):
                break
            if line == "/reset":
                chat.reset()
                print("(conversation cleared)")
                continue
            try:
                reply = reply_to(chat, line)
            except KeyboardInterrupt:
                print("\n(reply stopped)", file=sys.stderr)
                continue
            except bittern.BitternError as e:
                sys.stdout.write("\n")
                print("chat.py: %s" % e, file=sys.stderr)
                continue
            sys.stdout.write("\n")
            sys.stdout.flush()
            if reply.result.finish_reason == "context_full":
                print("(the context is full; the next message drops the oldest exchanges)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
