#!/usr/bin/env python3
"""Writes N generic events (~300 B of JSON each, a type EVENTS.md does not
know) as JSON Lines, 1,000 consecutive lines per stream, for `chronik append`.

usage: gen-generic.py N OUT.jsonl
"""
import json, sys

n, out = int(sys.argv[1]), sys.argv[2]
with open(out, "w") as f:
    for i in range(n):
        s = i // 1000
        data = {
            "note": "customer asked about delivery window and gift wrapping options",
            "seq": i,
            "author": "agent-%d" % (i % 97),
            "tags": ["support", "delivery", "wrap"],
            "channel": "email",
            "priority": i % 5,
            "text": "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor",
        }
        f.write(json.dumps({"stream": "s-%d" % s, "type": "Noted", "data": data},
                           separators=(",", ":")) + "\n")
