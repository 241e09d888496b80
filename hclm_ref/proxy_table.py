"""The margins table (paper Fig. 3a): each proxy set's average class margin (Eq. 13) and minimum
Hamming distance beside the coding-theory bounds.

    python -m hclm_ref.proxy_table [--classes 10,100] [--bits 16,32,64] [--seed 0]
"""

import argparse

from .margins import class_margins, hamming_bound, min_hamming_distance, plotkin_bound
from .proxies import DESIGNED_KINDS, make_proxies
from .search import sign


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


def _ints(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hclm_ref.proxy_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=_ints, default=(10, 100), help="numbers of classes C")
    parser.add_argument("--bits", type=_ints, default=(16, 32, 64), help="code lengths d")
    parser.add_argument("--seed", type=int, default=0, help="design seed")
    args = parser.parse_args(argv)
    try:
        print(margins_table(args.classes, args.bits, seed=args.seed))
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")


if __name__ == "__main__":
    main()
