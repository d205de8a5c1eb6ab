#!/usr/bin/env python3
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Runs a command on a pseudo-terminal of its own, as a person at a
# terminal would, for tests/plugin.sh: the command is a session leader
# whose controlling terminal is the pty, so /dev/tty is that terminal,
# while its standard output and error go to files (kubectl reads an exec
# plugin's stdout through a pipe).  A script of expected prompts and
# answers drives it: each --answer waits for a regular expression in the
# terminal output not yet matched, notes whether the terminal echoes at
# that moment, and types the text and Enter; --answer-file types the
# first line of a file instead (a password, kept off this process's
# command line, where the test looks for it); --interrupt types Ctrl-C,
# and again every half second until the command ends: a shell's read
# builtin that the signal reaches just before it blocks would wait for
# input, a window too short for a person but not for a script.
# The command starts with the signals a login session gives it: ignored
# ones (SIGINT and SIGQUIT are, under a script's "&" or nohup) are reset,
# since a shell cannot trap a signal ignored when it started.
# Everything the terminal showed goes to the transcript file.  It prints
# one line per step ("step N echo=on|off") and at the end "exit=N" (or
# "signal=N", "timeout"), "echo_after=on|off" and "unmatched=N" (steps
# whose prompt never came).

import argparse
import os
import pty
import re
import select
import signal
import sys
import termios
import time


class Step(argparse.Action):
    """A step of the script: (regular expression, bytes to type)."""

    def __call__(self, parser, ns, values, option=None):
        if option == "--interrupt":
            text = b"\x03"
        elif option == "--answer-file":
            with open(values[1], "rb") as f:
                text = f.read().split(b"\n")[0] + b"\r"
        else:
            text = values[1].encode() + b"\r"
        getattr(ns, self.dest).append((values[0], text))


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--err", required=True)
    p.add_argument("--transcript", required=True)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--answer", nargs=2, action=Step, default=[],
                   metavar=("RE", "TEXT"), dest="steps")
    p.add_argument("--answer-file", nargs=2, action=Step,
                   metavar=("RE", "FILE"), dest="steps")
    p.add_argument("--interrupt", nargs=1, action=Step,
                   metavar="RE", dest="steps")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    if a.cmd[:1] == ["--"]:
        a.cmd = a.cmd[1:]
    if not a.cmd:
        p.error("no command")
    return a


def child(a):
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    out = os.open(a.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(a.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(err, 2)
    try:
        os.execvp(a.cmd[0], a.cmd)
    finally:
        os._exit(127)


def echoes(fd):
    try:
        return "on" if termios.tcgetattr(fd)[3] & termios.ECHO else "off"
    except termios.error:
        return "unknown"


def drive(a, pid, fd):
    seen = b""
    pos = 0
    steps = list(a.steps)
    n = 0
    deadline = time.monotonic() + a.timeout
    again = None
    while time.monotonic() < deadline:
        if steps:
            m = re.search(steps[0][0].encode(), seen[pos:])
            if m:
                pos += m.end()
                n += 1
                print("step %d echo=%s" % (n, echoes(fd)), flush=True)
                os.write(fd, steps[0][1])
                if steps[0][1] == b"\x03":
                    again = time.monotonic() + 0.5
                steps.pop(0)
                continue
        if again is not None and time.monotonic() >= again:
            os.write(fd, b"\x03")
            again = time.monotonic() + 0.5
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            return seen, len(steps), True
        seen += data
    return seen, len(steps), False


def main():
    a = parse()
    pid, fd = pty.fork()
    if pid == 0:
        child(a)
    seen, unmatched, ended = drive(a, pid, fd)
    if not ended:
        os.killpg(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    with open(a.transcript, "wb") as f:
        f.write(seen)
    if not ended:
        print("timeout")
    elif os.WIFEXITED(status):
        print("exit=%d" % os.WEXITSTATUS(status))
    else:
        print("signal=%d" % os.WTERMSIG(status))
    print("echo_after=%s" % echoes(fd))
    print("unmatched=%d" % unmatched)
    return 0


if __name__ == "__main__":
    sys.exit(main())
