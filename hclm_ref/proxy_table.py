"""The margins table (paper Fig. 3a): each proxy set's average class margin (Eq. 13) and minimum
Hamming distance beside the coding-theory bounds; and the distance table: how far apart each
design puts C codes of d bits, against every upper bound and the best codes known.

    python -m hclm_ref.proxy_table [--classes 10,100] [--bits 16,32,64] [--seed 0]
    python -m hclm_ref.proxy_table --distances [--classes 10,20,100,1000] [--bits 12,16,24,32,48,64,128]
"""

import argparse
import time

import numpy as np

from .margins import (
    class_margins,
    hamming_bound,
    lp_bound,
    min_hamming_distance,
    plotkin_bound,
    plotkin_size,
    plotkin_theorem_bound,
)
from .proxies import DESIGNED_KINDS, PIPELINE_MAX_CLASSES, best_proxies, distance_key, make_proxies
from .search import sign

# Lower bounds on A(n, d) (even d; odd d through A(n, d) = A(n + 1, d + 1)) for the lengths of
# the table that tables cover, from A. E. Brouwer's table of general binary codes
# (https://www.win.tue.nl/~aeb/codes/binary-1.html, after Best, Brouwer, MacWilliams, Odlyzko &
# Sloane, IEEE Trans. Inf. Theory 24 (1978) 81-93). A(n, d) = 2 for 3d/2 > n, 2^(n-1) for d = 2.
KNOWN_SIZES = {
    12: {4: 144, 6: 24, 8: 4}, 13: {4: 256, 6: 32, 8: 4},
    16: {4: 2048, 6: 256, 8: 32, 10: 4}, 17: {4: 2816, 6: 258, 8: 36, 10: 6},
    24: {4: 327680, 6: 16384, 8: 4096, 10: 136, 12: 48, 14: 6, 16: 4},
    25: {4: 2 ** 19, 6: 17920, 8: 4096, 10: 192, 12: 52, 14: 8, 16: 4},
}


def margins_table(class_counts=(10, 100), bit_counts=(16, 32, 64), seed=0):
    """Markdown table: average class margin (Eq. 13) and min d_H of every designed proxy set,
    with the Plotkin and Hamming bounds on min d_H, for each (C, d).

    For the real-valued sets (tammes, aligned) min d_H is that of their signs, the codes a
    network at its proxies would produce. A set that does not exist for (C, d) (hadamard off
    powers of two) has no row.
    """
    lines = ["| C | d | proxy set | avg margin | min d_H | Plotkin bound | Hamming bound |",
             "|---|---|---|---|---|---|---|"]
    for C in class_counts:
        for d in bit_counts:
            plotkin, hamming = plotkin_bound(C, d), hamming_bound(C, d)     # validate C and d
            for kind in DESIGNED_KINDS:
                try:
                    W = make_proxies(kind, C, d, seed=seed)
                except ValueError:
                    continue                # this set does not exist for (C, d)
                lines.append(f"| {C} | {d} | {kind} | {class_margins(W).mean():.3f} | "
                             f"{min_hamming_distance(sign(W))} | {plotkin} | {hamming} |")
    return "\n".join(lines)


def _known_size(n, d):
    """Best known lower bound on A(n, d) from KNOWN_SIZES, or None for a length it lacks."""
    if d % 2:
        n, d = n + 1, d + 1
    if n not in KNOWN_SIZES:
        return None
    if d == 2:
        return 2 ** (n - 1)
    return 2 if 3 * d > 2 * n else KNOWN_SIZES[n].get(d)


def best_known_distance(n_codewords, n_bits):
    """(distance, source): the largest min distance known to be reachable by n_codewords codes
    of n_bits bits. From Brouwer's table where it covers n; else, where Plotkin's theorem
    decides (2d >= n), its value, which Levenshtein's theorem says is met (Hadamard matrices of
    the orders needed exist); else (None, "")."""
    M, n = n_codewords, n_bits
    sizes = [(d, _known_size(n, d)) for d in range(1, n + 1)]
    if all(size is not None for _, size in sizes):
        return max(d for d, size in sizes if size >= M), "Brouwer"
    d = plotkin_theorem_bound(M, n)
    even_n, even_d = (n + 1, d + 1) if d % 2 else (n, d)
    if 2 * even_d >= even_n and plotkin_size(n, d) >= M:
        return d, "Levenshtein"
    return None, ""


def distance_table(class_counts=(10, 20, 100, 1000), bit_counts=(12, 16, 24, 32, 48, 64, 128), seed=0):
    """Markdown table: min d_H of C proxies of d bits from each design (random ±1; CSQ-style
    hash centres = Hadamard rows when they exist, else random; the paper's pipeline, hclm-paper;
    its refinement, hclm; ours, best_proxies, with its pairs at the minimum, bit balance and
    seconds), beside the upper bounds (Plotkin averaging and theorem, Delsarte LP, Hamming) and
    the best known codes. The pipeline is skipped above PIPELINE_MAX_CLASSES classes."""
    lines = ["| C | d | random | CSQ | paper | hclm | **best** | pairs at min | bit balance | s | "
             "Plotkin avg | Plotkin | LP | Hamming | best known |", "|" + "---|" * 15]
    for C in class_counts:
        for d in bit_counts:
            random = min_hamming_distance(make_proxies("random", C, d, seed=seed))
            try:
                csq = min_hamming_distance(make_proxies("hadamard", C, d)), "H"
            except ValueError:
                csq = random, "r"
            if C <= PIPELINE_MAX_CLASSES:
                paper = str(min_hamming_distance(make_proxies("hclm-paper", C, d, seed=seed)))
                hclm = str(min_hamming_distance(make_proxies("hclm", C, d, seed=seed)))
            else:
                paper = hclm = "—"
            t = time.perf_counter()
            B = best_proxies(C, d, seed=seed)
            seconds = time.perf_counter() - t
            low, pairs, _ = distance_key(B)
            balance = float(np.abs(B.mean(axis=0)).mean())
            known, source = best_known_distance(C, d)
            lines.append(f"| {C} | {d} | {random} | {csq[0]} ({csq[1]}) | {paper} | {hclm} | **{low}** | "
                         f"{-pairs} | {balance:.2f} | {seconds:.0f} | {plotkin_bound(C, d)} | "
                         f"{plotkin_theorem_bound(C, d)} | {lp_bound(C, d)} | {hamming_bound(C, d)} | "
                         f"{known if known else '—'}{f' ({source})' if known else ''} |")
    return "\n".join(lines)


def _ints(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hclm_ref.proxy_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=_ints, help="numbers of classes C")
    parser.add_argument("--bits", type=_ints, help="code lengths d")
    parser.add_argument("--seed", type=int, default=0, help="design seed")
    parser.add_argument("--distances", action="store_true",
                        help="the distance table (default classes 10,20,100,1000, bits 12..128)")
    args = parser.parse_args(argv)
    try:
        if args.distances:
            print(distance_table(args.classes or (10, 20, 100, 1000),
                                 args.bits or (12, 16, 24, 32, 48, 64, 128), seed=args.seed))
        else:
            print(margins_table(args.classes or (10, 100), args.bits or (16, 32, 64), seed=args.seed))
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")


if __name__ == "__main__":
    main()
