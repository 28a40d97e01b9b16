"""The Python examples run end to end (as subprocesses) on the bundled demo model."""
import os
import subprocess
import sys

import bittern

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "python")


def run_example(name, *args, stdin=None):
    env = dict(os.environ)
    # the bittern package under test and the library it loaded, whatever the working directory
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(bittern.__file__)))] +
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["BITTERN_LIBRARY"] = bittern.library_path
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args), input=stdin,
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_generate_example_streams_text():
    p = run_example("generate.py", "And God said", "--max-tokens", "24", "--seed", "3")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("And God said") and len(p.stdout.strip()) > len("And God said") + 10
    assert "tok/s" in p.stderr and "finish:" in p.stderr
    # the same seed gives the same text; greedy without a prompt works too
    assert run_example("generate.py", "And God said", "--max-tokens", "24", "--seed", "3").stdout == p.stdout
    q = run_example("generate.py", "--max-tokens", "8", "--temperature", "0")
    assert q.returncode == 0 and q.stdout.strip(), q.stderr


def test_chat_example_with_piped_stdin():
    p = run_example("chat.py", "--max-tokens", "16", "--seed", "1", stdin="Hello\nHow are you?\n")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "> Hello" in lines and "> How are you?" in lines
    i, j = lines.index("> Hello"), lines.index("> How are you?")
    assert "".join(lines[i + 1:j]).strip(), p.stdout  # a reply to the first message
    assert "".join(lines[j + 1:]).strip(), p.stdout  # and to the second
    assert "Traceback" not in p.stderr


def test_examples_report_a_missing_model():
    p = run_example("generate.py", "--model", "/nonexistent.gguf")
    assert p.returncode == 1 and "BITTERN_E_IO" in p.stderr


def test_chat_example_drops_old_exchanges_when_the_context_is_full():
    p = run_example("chat.py", "--n-ctx", "72", "--max-tokens", "24", "--seed", "2",
                    stdin="Hello\nWhat is this place?\nTell me more about it\nAnd then?\n/exit\nnot read\n")
    assert p.returncode == 0, p.stderr
    assert "dropped the oldest exchange" in p.stderr, p.stderr
    lines = p.stdout.splitlines()
    assert "> And then?" in lines and "> /exit" in lines and "> not read" not in lines
    assert "Traceback" not in p.stderr
