"""Speed of Hamming search and exact mAP@all at CIFAR-10 scale (10,000 queries x 50,000 items).

Prints, measured in the same run (the machines are shared and noisy, so compare ratios):
  floor     computing the whole distance matrix chunk by chunk, nothing else
  stable    mAP@all with ties broken by database index
  expected  tie-aware mAP@all
  peers     the per-query loop of DeepHash-pytorch's CalcTopMap (float dot-product distances,
            np.argsort, cumulative precision), timed on 1,000 queries and scaled to 10,000
and the peak memory our functions allocate (tracemalloc). Run: python benchmarks/bench_search.py
"""

import os
import platform
import time
import tracemalloc

import numpy as np

from hclm_ref.metrics import mean_average_precision
from hclm_ref.proxies import hclm_proxies
from hclm_ref.search import distance_chunks, pack_codes

N_QUERIES, N_DB, N_CLASSES, CONFUSED, FLIP = 10_000, 50_000, 10, 0.2, 0.06


def collapsed_codes(rng, n, centres):
    """Codes like a trained hashing network's: each item takes its class code (HCLM proxy), or
    with probability CONFUSED another class's, then each bit flips with probability FLIP."""
    y = rng.integers(0, len(centres), n)
    shown = np.where(rng.random(n) < CONFUSED, rng.integers(0, len(centres), n), y)
    return centres[shown] * np.where(rng.random((n, centres.shape[1])) < FLIP, -1, 1), y


def peers_map(qB, rB, queryL, retrievalL, topk):
    """DeepHash-pytorch's CalcTopMap, as written there (one-hot labels, float codes)."""
    num_query = queryL.shape[0]
    topkmap = 0
    for it in range(num_query):
        gnd = (np.dot(queryL[it, :], retrievalL.transpose()) > 0).astype(np.float32)
        hamm = 0.5 * (qB.shape[1] - np.dot(qB[it, :], rB.transpose()))
        ind = np.argsort(hamm)
        gnd = gnd[ind]
        tgnd = gnd[0:topk]
        tsum = np.sum(tgnd).astype(int)
        if tsum == 0:
            continue
        count = np.linspace(1, tsum, tsum)
        tindex = np.asarray(np.where(tgnd == 1)) + 1.0
        topkmap = topkmap + np.mean(count / tindex)
    return topkmap / num_query


def timed(fn, repeats=3):
    """Best of `repeats` wall-clock times, the last result, and the peak traced memory."""
    best, result = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, result, peak


def floor(q, db):
    for _ in distance_chunks(q, db):
        pass


def main():
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
          f"Python {platform.python_version()}, NumPy {np.__version__}")
    print(f"{N_QUERIES} queries x {N_DB} database items, {N_CLASSES} classes; codes = HCLM class "
          f"code ({CONFUSED:.0%} of items: a wrong class's), {FLIP:.0%} of bits flipped\n")
    header = (f"{'bits':>4} | {'floor s':>7} | {'stable s':>8} {'x floor':>7} | {'expected s':>10} "
              f"{'x floor':>7} | {'peers s (scaled)':>16} | {'stable/peers':>12} "
              f"{'expected/peers':>14} | {'mAP stable':>10} {'mAP expected':>12} {'mAP peers':>9} "
              f"| {'peak MB':>7}")
    # (mAP columns: stable and expected on all 10,000 queries; peers on its 1,000)
    print(header)
    print("-" * len(header))
    peer_rows = []
    for bits in (16, 32, 48, 64):
        rng = np.random.default_rng(bits)
        centres = hclm_proxies(N_CLASSES, bits, seed=0)
        Q, ql = collapsed_codes(rng, N_QUERIES, centres)
        X, dl = collapsed_codes(rng, N_DB, centres)
        q, db = pack_codes(Q), pack_codes(X)
        t_floor, _, _ = timed(lambda: floor(q, db))
        t_stable, m_stable, mem_s = timed(lambda: mean_average_precision(q, ql, db, dl))
        t_exp, m_exp, mem_e = timed(lambda: mean_average_precision(q, ql, db, dl, ties="expected"))
        onehot = np.eye(N_CLASSES, dtype=np.float32)
        n_peer = 1000
        t = time.perf_counter()
        m_peer = peers_map(Q[:n_peer].astype(np.float32), X.astype(np.float32),
                           onehot[ql[:n_peer]], onehot[dl], N_DB)
        t_peer = (time.perf_counter() - t) * N_QUERIES / n_peer
        m_1k = [mean_average_precision(Q[:n_peer], ql[:n_peer], db, dl, ties=ties)
                for ties in ("stable", "expected")]
        print(f"{bits:>4} | {t_floor:7.2f} | {t_stable:8.2f} {t_stable / t_floor:7.2f} | "
              f"{t_exp:10.2f} {t_exp / t_floor:7.2f} | {t_peer:16.1f} | "
              f"{t_peer / t_stable:11.0f}x {t_peer / t_exp:13.0f}x | {m_stable:10.4f} "
              f"{m_exp:12.4f} {m_peer:9.4f} | {max(mem_s, mem_e) / 2 ** 20:7.0f}")
        peer_rows.append(f"{bits:>4} | {m_1k[0]:.4f} | {m_1k[1]:.4f} | {m_peer:.4f}")
    print("\nstable/peers and expected/peers: how many times faster than the peers' loop.")
    print("\nOn the first 1,000 queries (the peers' mAP uses np.argsort's unstable tie order):")
    print("bits | ours stable | ours expected | peers")
    print("\n".join(peer_rows))


if __name__ == "__main__":
    main()
