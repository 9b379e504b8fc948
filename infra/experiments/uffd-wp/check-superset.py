#!/usr/bin/env python3
"""Is every page whose content changed reported as written? (the property a differential dump relies on)

  check-superset.py PID WRITTEN-LIST before|after SNAPSHOT-DIR

'before' saves the process's writable memory (through /proc/PID/mem) to SNAPSHOT-DIR; 'after' reads it again,
lists the pages whose content changed since, and checks each is inside a range of WRITTEN-LIST (wp-track's
--write-list output for a round that began before 'before' and ends after 'after' read the memory; it waits for WRITTEN-LIST.done).
"""
import os
import sys
import time

PAGE = 4096


def writable_ranges(pid):
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            addr, perms = line.split()[:2]
            if perms[1] == "w" and "[vvar" not in line and "[vsyscall]" not in line:
                start, end = (int(x, 16) for x in addr.split("-"))
                yield start, end


def read_range(mem, start, end):
    """Page by page: a page that cannot be read (a guard page) counts as zeroes."""
    out = bytearray()
    for addr in range(start, end, PAGE):
        try:
            mem.seek(addr)
            out += mem.read(PAGE)
        except OSError:
            out += bytes(PAGE)
    return bytes(out)


def main():
    pid, written_list, mode, snap = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    os.makedirs(snap, exist_ok=True)
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        if mode == "before":
            for start, end in writable_ranges(pid):
                with open(os.path.join(snap, f"{start:x}-{end:x}"), "wb") as f:
                    f.write(read_range(mem, start, end))
            return
        # Read the memory now (before the tracker's round ends), then wait for that round's list.
        now = {}
        for name in os.listdir(snap):
            start, end = (int(x, 16) for x in name.split("-"))
            now[name] = read_range(mem, start, end)
        while not os.path.exists(written_list + ".done"):
            time.sleep(0.1)
        written = []
        with open(written_list) as f:
            for line in f:
                s, e = (int(x, 16) for x in line.split("-"))
                written.append((s, e))
        changed = missed = 0
        for name in os.listdir(snap):
            start, end = (int(x, 16) for x in name.split("-"))
            with open(os.path.join(snap, name), "rb") as f:
                old = f.read()
            new = now[name]
            for off in range(0, min(len(old), len(new)), PAGE):
                if old[off : off + PAGE] != new[off : off + PAGE]:
                    changed += 1
                    addr = start + off
                    if not any(s <= addr < e for s, e in written):
                        missed += 1
                        print(f"changed but not reported written: {addr:x}")
        reported = sum((e - s) // PAGE for s, e in written)
        print(f"{changed} pages changed content; {reported} reported written; {missed} changed pages missed")
        sys.exit(1 if missed else 0)


main()
