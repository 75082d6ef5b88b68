"""The Python SDK against the Rust facade, measured in one run (docs/performance.md).

    cargo xtask python --release -k nothing      # an optimised wheel in the venv
    $CARGO_TARGET_DIR/python-venv/bin/pip install cryptography
    $CARGO_TARGET_DIR/python-venv/bin/python crates/virgil-py/benches/bench.py

Rows (medians; Rust and Python rounds interleaved so drift hits both):
- sign_then_encrypt of 64 MiB for one recipient: Python's throughput / the Rust
  facade's one-shot throughput (the same call timed in Rust, virgil._native.rust_timings);
- 1 KiB sign_then_encrypt + decrypt_then_verify: Python's time per call minus Rust's;
- pyca/cryptography AES-256-GCM over the same 64 MiB: a Python user's baseline.
"""

import os
import statistics
import sys
import time

import virgil
from virgil import _native
from virgil.local import LocalDeployment

MIB = 1 << 20
BIG = 64 * MIB
ROUNDS = 15
SMALL_CALLS = 200
SMALL_ROUNDS = 25


def python_timings(call, iterations):
    timings = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    with LocalDeployment() as local:
        device = local.device("bench")
        key = device.keys.generate()
        card = device.cards.create(device.identities.create_user("bench"), key)

        big = os.urandom(BIG)
        rust_big, python_big = [], []
        for _ in range(ROUNDS):
            rust_big += _native.rust_timings("sign_then_encrypt", key, card, big, 1)
            python_big += python_timings(lambda: key.sign_then_encrypt(big, card), 1)
        rust_gib_s = BIG / statistics.median(rust_big) / (1 << 30)
        python_gib_s = BIG / statistics.median(python_big) / (1 << 30)

        small = os.urandom(1024)

        def round_trip():
            for _ in range(SMALL_CALLS):
                sealed = key.sign_then_encrypt(small, card)
                key.decrypt_then_verify(sealed, card)

        rust_small, python_small = [], []
        for _ in range(SMALL_ROUNDS):
            rust_small.append(sum(_native.rust_timings("round_trip", key, card, small,
                                                       SMALL_CALLS)) / SMALL_CALLS)
            python_small.append(python_timings(round_trip, 1)[0] / SMALL_CALLS)
        rust_us = statistics.median(rust_small) * 1e6
        python_us = statistics.median(python_small) * 1e6

        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError:
            aes_gib_s = None
        else:
            aead = AESGCM(AESGCM.generate_key(bit_length=256))
            nonce = os.urandom(12)
            aes = python_timings(lambda: aead.encrypt(nonce, big, None), ROUNDS)
            aes_gib_s = BIG / statistics.median(aes) / (1 << 30)

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    print(f"# virgil Python SDK vs Rust facade, {cpu}, Python {sys.version.split()[0]}, "
          f"one core, medians of {ROUNDS} (64 MiB) and {SMALL_ROUNDS}x{SMALL_CALLS} (1 KiB)")
    print("| measure | Rust facade | Python SDK | ratio / difference | goal |")
    print("|---|---|---|---|---|")
    print(f"| sign_then_encrypt 64 MiB, 1 recipient | {rust_gib_s:.2f} GiB/s | "
          f"{python_gib_s:.2f} GiB/s | {python_gib_s / rust_gib_s:.3f}x | >= 0.9x |")
    print(f"| 1 KiB sign_then_encrypt + decrypt_then_verify | {rust_us:.1f} us | "
          f"{python_us:.1f} us | +{python_us - rust_us:.1f} us per call | <= +20 us |")
    if aes_gib_s is None:
        print("| pyca/cryptography AES-256-GCM 64 MiB | | (not installed: pip install "
              "cryptography) | | baseline |")
    else:
        print(f"| pyca/cryptography AES-256-GCM 64 MiB (encrypt only, unsigned) | | "
              f"{aes_gib_s:.2f} GiB/s | SDK sign_then_encrypt = "
              f"{python_gib_s / aes_gib_s:.2f}x of it | baseline |")


if __name__ == "__main__":
    main()
