"""hclm_ref: a NumPy reference implementation of HCLM / sHCLM deep hashing.

Morgado et al., "Deep Hashing with Hash-Consistent Large Margin Proxy Embeddings", IJCV 2020.
One module per stage of the paper's pipeline: proxies -> margins -> nn/losses -> train ->
search -> metrics (+ baselines, data, plots, demo).
"""

__version__ = "0.1.0"
