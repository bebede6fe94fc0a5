"""Random byte-level damage to valid bodies, aimed at the raw-byte proofs of the decoders' fast paths."""

from __future__ import annotations

import random
from collections.abc import Iterator

TOKENS = [b"7", b"-", b".", b"e", b"E", b"+", b":", b",", b'"', b" ", b"0", b"}", b"{", b"[", b"]", b"a", b"\\"]
"""What damage inserts: the bytes of numbers and of JSON's structure, a letter and an escape."""


def damaged(bodies: list[bytes], count: int, seed: int, tokens: list[bytes] = TOKENS) -> Iterator[bytes]:
    """``count`` copies of the bodies, each with one to three bytes deleted or tokens inserted at random."""
    generator = random.Random(seed)
    for _ in range(count):
        body = bytearray(generator.choice(bodies))
        for _ in range(generator.randint(1, 3)):
            position = generator.randrange(len(body))
            if generator.random() < 0.4:
                del body[position : position + generator.randint(1, 2)]
            else:
                body[position:position] = generator.choice(tokens)
        yield bytes(body)
