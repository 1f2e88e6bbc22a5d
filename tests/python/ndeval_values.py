"""Per-query alpha-nDCG from ndeval (pyndeval, as ir_measures runs it) for
rankbook's cross-check test.

usage: ndeval_values.py QRELS RUN  ->  JSON {measure_name: {qid: value}}
QRELS are diversity qrels (`qid subtopic docid rel`); names are rankbook's.
"""
import json
import sys

import ir_measures
from ir_measures import alpha_nDCG

MEASURES = {
    "alpha_nDCG@5": alpha_nDCG @ 5,
    "alpha_nDCG@10": alpha_nDCG @ 10,
    "alpha_nDCG@20": alpha_nDCG @ 20,
    "alpha_nDCG(alpha=0.8)@10": alpha_nDCG(alpha=0.8) @ 10,
    "alpha_nDCG(rel=2)@10": alpha_nDCG(rel=2) @ 10,
}


def main():
    qrels = list(ir_measures.read_trec_qrels(sys.argv[1]))
    run = list(ir_measures.read_trec_run(sys.argv[2]))
    out = {name: {} for name in MEASURES}
    # One measure per call: pyndeval keeps alpha in global state, so one call
    # with two alphas gives wrong values for one of them.
    for name, measure in MEASURES.items():
        for metric in ir_measures.pyndeval.iter_calc([measure], qrels, run):
            out[name][metric.query_id] = metric.value
    json.dump(out, sys.stdout)


main()
