"""The verdict rule (protocols.verdict) and benchmarks/claims_table.py's table from reports (issue #13)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import claims_table  # noqa: E402

from hclm_ref.protocols import verdict  # noqa: E402


def test_verdict_needs_the_difference_to_exceed_both_spreads():
    assert verdict(0.80, 0.01, 0.77, 0.01) == "holds"            # 0.03 > 0.02
    assert verdict(0.80, 0.02, 0.77, 0.02) == "within noise"     # 0.03 < 0.04
    assert verdict(0.74, 0.01, 0.77, 0.01) == "does not hold"
    assert verdict(0.10, 0.0, 0.20, 0.0, larger=False) == "holds"   # smaller is better
    assert verdict(0.5, 0.0, 0.5, 0.0) == "within noise"


def test_table_from_reports(tmp_path):
    rows = [{"method": "hclm", "bits": 48, "seeds": 2, "avg_margin": 1.0, "avg_margin_std": 0.0,
             "map_expected": 0.80, "map_expected_std": 0.005, "binarization_error": 0.14,
             "binarization_error_std": 0.01},
            {"method": "learned", "bits": 48, "seeds": 2, "avg_margin": 0.6, "avg_margin_std": 0.0,
             "map_expected": 0.79, "map_expected_std": 0.01, "binarization_error": 0.25,
             "binarization_error_std": 0.01}]
    folder, section = claims_table.ABLATION
    os.makedirs(tmp_path / folder)
    (tmp_path / folder / "results.json").write_text(json.dumps({section: rows}))
    table = claims_table.claims_table(str(tmp_path)).splitlines()
    by_claim = {line.split(" | ")[0][2:]: line for line in table[2:]}
    assert len(by_claim) == len(claims_table.CLAIMS)
    more_binary = by_claim["Fixed proxies make ν more binary than learned ones"]
    assert "| holds |" in more_binary and "0.1400 ± 0.0100" in more_binary
    assert f"[{folder}]({folder}/report.md)" in more_binary
    assert f"[{folder}](benchmarks/results/{folder}/report.md)" in claims_table.claims_table(
        str(tmp_path), links="benchmarks/results/")
    assert "| within noise |" in by_claim["HCLM retrieves better than learned proxies"]
    assert "| not run |" in by_claim["HCLM retrieves better than fixed random ±1 proxies"]
    for row in rows:
        row["seeds"] = 1
    (tmp_path / folder / "results.json").write_text(json.dumps({section: rows}))
    assert "holds (1 seed: no spread" in claims_table.claims_table(str(tmp_path))
