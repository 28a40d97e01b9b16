#!/usr/bin/env python3
"""Drives `bittern chat` through a pseudo-terminal as a person would: a message and its reply, Ctrl-C in the
middle of a long reply (it must stop the reply, not the program), /reset, another message, then /exit.

    python3 Tests/cli/chat_pty.py build/bin/bittern
Exit status 0 when every step behaved; the transcript is printed on failure.
"""
import os
import pty
import select
import signal
import sys
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin/bittern"
transcript = b""
cursor = 0   # where the text after the last matched needle starts


def read_until(fd, needle, timeout):
    """Reads from the pty until `needle` (bytes) appears after the previous match (it may already have
    arrived in the same read as that one), or timeout."""
    global transcript, cursor

    def found():
        global cursor
        i = transcript.find(needle, cursor)
        if i >= 0:
            cursor = i + len(needle)
            return True
        return False

    if found():
        return True
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            transcript += data
            if found():
                return True
    return False


def fail(msg):
    sys.stdout.write("FAIL: %s\n--- transcript ---\n%s\n" % (msg, transcript.decode("utf-8", "replace")))
    sys.exit(1)


def main():
    # A long reply: no token limit, a context of 4096 and a high temperature, so it does not end by itself
    # before Ctrl-C arrives.
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(BIN, [BIN, "chat", "-c", "4096", "-n", "-1", "--temp", "1.5", "--top-k", "0", "--seed", "7",
                       "--min-p", "0", "--top-p", "1", "-t", "1"])
    if not read_until(fd, b"> ", 30):
        fail("no prompt")
    os.write(fd, b"Hello, who are you?\r")
    time.sleep(1.0)
    os.write(fd, b"\x03")                      # Ctrl-C: the terminal sends SIGINT
    if not read_until(fd, b"(reply stopped)", 20):
        fail("Ctrl-C did not stop the reply")
    if not read_until(fd, b"> ", 10):
        fail("no prompt after Ctrl-C")
    os.write(fd, b"/reset\r")
    if not read_until(fd, b"(conversation cleared)", 10):
        fail("/reset not acknowledged")
    os.write(fd, b"/exit\r")
    deadline = time.time() + 10
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        read_until(fd, b"\0", 0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        fail("/exit did not end the program")
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        fail("chat exited with status %r" % status)
    # The reply before Ctrl-C was text.
    text = transcript.decode("utf-8", "replace")
    reply = text.split("Hello, who are you?", 1)[-1].split("(reply stopped)")[0]
    if sum(c.isalpha() for c in reply) < 20:
        fail("the reply had no text")
    print("chat through a pty: reply streamed, Ctrl-C stopped it, /reset and /exit worked")


if __name__ == "__main__":
    main()
