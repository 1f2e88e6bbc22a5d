"""Per-query trec_eval values from pytrec_eval for rankbook's cross-check test.

usage: pytrec_eval_values.py QRELS RUN  ->  JSON {measure_name: {qid: value}}
Names are rankbook's (ir_measures) names; RR@10 is recip_rank on the run cut at 10.
"""
import json
import sys

import pytrec_eval


def read_qrels(path):
    q = {}
    for line in open(path):
        f = line.split()
        if f:
            q.setdefault(f[0], {})[f[2]] = int(f[3])
    return q


def read_run(path):
    r = {}
    for line in open(path):
        f = line.split()
        if f:
            r.setdefault(f[0], {})[f[2]] = float(f[4])
    return r


def top(run, k):
    out = {}
    for q, docs in run.items():
        ranked = sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True)[:k]
        out[q] = dict(ranked)
    return out


def main():
    qrels, run = read_qrels(sys.argv[1]), read_run(sys.argv[2])
    names = {
        "nDCG@10": "ndcg_cut_10", "nDCG": "ndcg", "AP": "map", "AP@100": "map_cut_100",
        "RR": "recip_rank", "P@10": "P_10", "R@100": "recall_100", "Rprec": "Rprec",
        "Bpref": "bpref", "Success@10": "success_10", "NumRet": "num_ret",
        "NumRel": "num_rel", "NumRelRet": "num_rel_ret",
    }
    measures = {"ndcg_cut.10", "ndcg", "map", "map_cut.100", "recip_rank", "P.10",
                "recall.100", "Rprec", "bpref", "success.10", "num_ret", "num_rel", "num_rel_ret"}
    out = {n: {} for n in names}
    res = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    for q, vals in res.items():
        for n, key in names.items():
            out[n][q] = vals[key]
    res2 = pytrec_eval.RelevanceEvaluator(qrels, {"P.10", "recall.100"}, relevance_level=2).evaluate(run)
    out["P(rel=2)@10"] = {q: v["P_10"] for q, v in res2.items()}
    out["R(rel=2)@100"] = {q: v["recall_100"] for q, v in res2.items()}
    res3 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top(run, 10))
    out["RR@10"] = {q: v["recip_rank"] for q, v in res3.items()}
    json.dump(out, sys.stdout)


main()
