"""scipy's paired p-values for rankbook's cross-check.

stdin: JSON [[a, b], ...] (pairs of equal-length lists); stdout: JSON [[p_t, p_wilcoxon], ...]
(scipy.stats.ttest_rel and scipy.stats.wilcoxon with their defaults; NaN -> null).
"""
import json
import math
import sys
import warnings

from scipy import stats

warnings.simplefilter("ignore")
out = []
for a, b in json.load(sys.stdin):
    t = float(stats.ttest_rel(a, b).pvalue)
    try:
        w = float(stats.wilcoxon(a, b).pvalue)
    except ValueError:
        w = float("nan")
    out.append([None if math.isnan(t) else t, None if math.isnan(w) else w])
json.dump(out, sys.stdout)
