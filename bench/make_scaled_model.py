"""Builds a random-weight encoder of a new architecture at all-MiniLM-L6-v2's
size (ModernBERT: 6 layers, hidden 384; Qwen3: 4 layers, hidden 512), as a
sentence-transformers folder, for the speed benchmarks of issue 23:
the architecture's maths at a realistic size, on MiniLM's WordPiece vocabulary
(so both sides see the same tokens as the MiniLM benchmark).

    python make_scaled_model.py --arch modernbert --tokenizer MINILM_DIR --out DIR
"""
import argparse
import os
import shutil

import torch
import transformers
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling


def config(arch, tok):
    ids = dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    if arch == "modernbert":
        # ModernBERT-base's proportions (head width 64, GeGLU 1.5x hidden, a
        # 128-token window in two layers of three) at hidden 384, 6 layers.
        return transformers.ModernBertConfig(
            vocab_size=tok.vocab_size, hidden_size=384, num_hidden_layers=6, num_attention_heads=6,
            intermediate_size=576, max_position_embeddings=512, global_attn_every_n_layers=3,
            local_attention=128, cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id, **ids,
        ), "mean"
    if arch == "qwen3":
        # Qwen3-Embedding-0.6B's proportions (head width 64 here, 2 query heads
        # per key/value head, SwiGLU 3x hidden) at hidden 512, 4 layers.
        return transformers.Qwen3Config(
            vocab_size=tok.vocab_size, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
            num_key_value_heads=4, head_dim=64, intermediate_size=1536, max_position_embeddings=512,
            tie_word_embeddings=True, **ids,
        ), "lasttoken"
    if arch == "qwen3-0.6b":
        # Qwen3-Embedding-0.6B's own sizes (its 151,669-word vocabulary too),
        # for the memory figures.
        return transformers.Qwen3Config(
            vocab_size=151669, hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
            num_key_value_heads=8, head_dim=128, intermediate_size=3072, max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, tie_word_embeddings=True, **ids,
        ), "lasttoken"
    raise SystemExit(f"unknown architecture {arch}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True)
    ap.add_argument("--tokenizer", required=True, help="a folder with all-MiniLM-L6-v2's tokenizer")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tok = transformers.AutoTokenizer.from_pretrained(args.tokenizer)
    cfg, pooling = config(args.arch, tok)
    torch.manual_seed(0)
    hf = args.out + ".hf"
    transformers.AutoModel.from_config(cfg).save_pretrained(hf)
    tok.save_pretrained(hf)
    t = Transformer(hf, max_seq_length=256)
    st = SentenceTransformer(modules=[t, Pooling(t.get_embedding_dimension(), pooling_mode=pooling), Normalize()],
                             device="cpu")
    shutil.rmtree(args.out, ignore_errors=True)
    st.save(args.out)
    shutil.rmtree(hf)
    print(args.out)


if __name__ == "__main__":
    main()
