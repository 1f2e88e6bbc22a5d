"""Per-query trec_eval values from pytrec_eval for rankbook's cross-check test.

usage: pytrec_eval_values.py QRELS RUN  ->  JSON {measure_name: {qid: value}}
Names are rankbook's (ir_measures) names; RR@10 is recip_rank on the run cut at 10;
gm_map per query is exp of trec_eval's log value (the AP floored at 1e-5). ERR@k
comes from gdeval.pl (the copy ir_measures ships, run with perl) on the queries
gdeval reports: those with a relevant doc; its topics must be numbers, so
"q12" is given as 12.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

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
    more = {
        "IPrec@0": "iprec_at_recall_0.00", "IPrec@0.1": "iprec_at_recall_0.10",
        "IPrec@0.5": "iprec_at_recall_0.50", "IPrec@1": "iprec_at_recall_1.00",
        "infAP": "infAP", "SetP": "set_P", "SetR": "set_recall", "SetF": "set_F",
        "SetAP": "set_map", "NumQ": "num_q", "gm_map": "gm_map", "11pt_avg": "11pt_avg",
        "Rprec_mult_0.20": "Rprec_mult_0.20", "Rprec_mult_1.40": "Rprec_mult_1.40",
    }
    wanted = {"iprec_at_recall", "infAP", "set_P", "set_recall", "set_F", "set_map", "num_q",
              "gm_map", "11pt_avg", "Rprec_mult"}
    res4 = pytrec_eval.RelevanceEvaluator(qrels, wanted).evaluate(run)
    for n, key in more.items():
        out[n] = {q: math.exp(v[key]) if key == "gm_map" else v[key] for q, v in res4.items()}
    res5 = pytrec_eval.RelevanceEvaluator(qrels, {"set_P", "infAP"}, relevance_level=2).evaluate(run)
    out["SetP(rel=2)"] = {q: v["set_P"] for q, v in res5.items()}
    out["infAP(rel=2)"] = {q: v["infAP"] for q, v in res5.items()}
    out["ERR@10"] = gdeval_err(sys.argv[1], sys.argv[2], 10)
    out.update(cwl_rbp(sys.argv[1], sys.argv[2]))
    json.dump(out, sys.stdout)


def cwl_rbp(qrels_path, run_path):
    """Binary RBP from cwl_eval (as ir_measures runs it). The run is given in
    trec_eval's order (score descending, ties by doc id descending) with distinct
    scores, as cwl_eval breaks ties its own way."""
    import ir_measures
    from ir_measures import RBP

    measures = {"RBP(p=0.8,rel=1)": RBP(rel=1), "RBP(p=0.5,rel=1)": RBP(rel=1, p=0.5),
                "RBP(p=0.8,rel=2)": RBP(rel=2)}
    qrels = list(ir_measures.read_trec_qrels(qrels_path))
    run = [ir_measures.ScoredDoc(q, d, float(len(docs) - i))
           for q, docs in read_run(run_path).items()
           for i, (d, _) in enumerate(sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True))]
    out = {}
    for name, measure in measures.items():
        out[name] = {m.query_id: float(m.value) for m in ir_measures.cwl_eval.iter_calc([measure], qrels, run)}
    return out


def gdeval_err(qrels_path, run_path, k):
    """Per-query ERR@k from gdeval.pl; its topics must be numbers, so each
    query id is given as its number in order of appearance."""
    import ir_measures

    script = os.path.join(os.path.dirname(ir_measures.__file__), "bin", "gdeval.pl")
    number = {}
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for src, name in [(qrels_path, "qrels"), (run_path, "run")]:
            dst = os.path.join(d, name)
            with open(src) as f, open(dst, "w") as g:
                for line in f:
                    fields = line.split()
                    if fields:
                        fields[0] = str(number.setdefault(fields[0], len(number) + 1))
                        g.write(" ".join(fields) + "\n")
            paths.append(dst)
        text = subprocess.run(["perl", script, *paths, str(k)], check=True, capture_output=True,
                              text=True).stdout
    qid = {str(n): q for q, n in number.items()}
    values = {}
    for line in text.splitlines()[1:]:
        fields = line.split(",")
        if len(fields) == 4 and fields[1] in qid:
            values[qid[fields[1]]] = float(fields[3])
    return values


main()
