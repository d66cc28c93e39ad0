"""Build the tiny ByT5-style ONNX model that tests/local_models/test_onnx_seq2seq.py uses.

Dev-time only (needs torch + transformers + onnx; CI uses the committed files):

    python -m venv /tmp/t5gen && /tmp/t5gen/bin/pip install torch==2.13.0 transformers onnx
    /tmp/t5gen/bin/python tests/local_models/make_tiny_t5_onnx.py
    /tmp/t5gen/bin/python tests/local_models/make_tiny_t5_onnx.py --byt5-small-shape /tmp/byt5s  # timing only

It makes a tiny ``T5ForConditionalGeneration`` with ByT5's token layout (vocab 384 = 3
special ids + 256 bytes + 125 extra ids; pad 0, eos 1, unk 2; decoder start = pad), d_model
32, two encoder and two decoder layers, gated-GELU feed-forward like ByT5. It is trained for
a few hundred steps to memorise a handful of goal → tactic pairs (so greedy output is
checkable text that ends in eos, one target carries ReProver's ``<a>…</a>`` premise
markers, and one goal has several answers for beam search). It is then exported in
Optimum's layout:

* ``encoder_model.onnx``: input_ids, attention_mask → last_hidden_state
* ``decoder_model.onnx``: input_ids, encoder_attention_mask, encoder_hidden_states →
  logits, present.{i}.decoder.key/value, present.{i}.encoder.key/value
* ``decoder_with_past_model.onnx``: input_ids (one step), encoder_attention_mask,
  past_key_values.{i}.decoder/encoder.key/value → logits, present.{i}.decoder.key/value

``reference.json`` records the training pairs and torch's own greedy outputs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from transformers import T5Config, T5ForConditionalGeneration
from transformers.cache_utils import EncoderDecoderCache

OUT = Path(__file__).resolve().parent.parent / "data" / "tiny_t5_onnx"
PAIRS = [
    ("⊢ True", "trivial"),
    ("n : ℕ\n⊢ n + 0 = n", "simp"),
    ("⊢ 2 + 2 = 4", "norm_num"),
    ("a b : ℕ\n⊢ a + b = b + a", "rw [<a>Nat.add_comm</a>]"),
    ("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "exact ⟨hp, hq⟩"),
    ("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "constructor"),
    ("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "refine ⟨?_, ?_⟩"),
    ("x : ℝ\nh : 0 < x\n⊢ 0 < x ^ 2", "positivity"),
]
EOS, PAD = 1, 0


def ids(text: str) -> list[int]:
    return [b + 3 for b in text.encode("utf-8")] + [EOS]


def batch(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [ids(t) for t in texts]
    width = max(map(len, rows))
    input_ids = torch.tensor([r + [PAD] * (width - len(r)) for r in rows])
    return input_ids, (input_ids != PAD).long()


def train(model: T5ForConditionalGeneration, steps: int = 600) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    src, src_mask = batch([g for g, _ in PAIRS])
    tgt, _ = batch([t for _, t in PAIRS])
    labels = tgt.masked_fill(tgt == PAD, -100)
    model.train()
    for step in range(steps):
        loss = model(input_ids=src, attention_mask=src_mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f}", file=sys.stderr)
    model.eval()


class Encoder(torch.nn.Module):
    def __init__(self, model: T5ForConditionalGeneration) -> None:
        super().__init__()
        self.encoder = model.get_encoder()

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def _flat_presents(cache: EncoderDecoderCache, with_cross: bool) -> list[torch.Tensor]:
    out = []
    self_cache, cross_cache = cache.self_attention_cache, cache.cross_attention_cache
    for i in range(len(self_cache.layers)):
        out += [self_cache.layers[i].keys, self_cache.layers[i].values]
        if with_cross:
            out += [cross_cache.layers[i].keys, cross_cache.layers[i].values]
    return out


class Decoder(torch.nn.Module):
    def __init__(self, model: T5ForConditionalGeneration) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states):
        out = self.model(
            decoder_input_ids=input_ids, attention_mask=encoder_attention_mask,
            encoder_outputs=(encoder_hidden_states,), use_cache=True, return_dict=True,
        )
        return (out.logits, *_flat_presents(out.past_key_values, with_cross=True))


class DecoderWithPast(torch.nn.Module):
    def __init__(self, model: T5ForConditionalGeneration, layers: int) -> None:
        super().__init__()
        self.model, self.layers = model, layers

    def forward(self, input_ids, encoder_attention_mask, *past):
        legacy = tuple(tuple(past[4 * i: 4 * i + 4]) for i in range(self.layers))
        cache = EncoderDecoderCache(legacy)
        enc_len = past[2].shape[2]
        dummy_enc = torch.zeros(input_ids.shape[0], enc_len, self.model.config.d_model)
        past_len = past[0].shape[2]
        cache_position = torch.arange(1, dtype=torch.long) + past_len
        out = self.model(
            decoder_input_ids=input_ids, attention_mask=encoder_attention_mask,
            encoder_outputs=(dummy_enc,), past_key_values=cache, use_cache=True,
            cache_position=cache_position, return_dict=True,
        )
        return (out.logits, *_flat_presents(out.past_key_values, with_cross=False))


def export(model: T5ForConditionalGeneration, out_dir: Path = OUT) -> None:
    layers = model.config.num_decoder_layers
    OUT = out_dir
    OUT.mkdir(parents=True, exist_ok=True)
    src, src_mask = batch(["n : ℕ\n⊢ n + 0 = n"])
    kw = dict(opset_version=17, dynamo=False, do_constant_folding=True)
    torch.onnx.export(
        Encoder(model), (src, src_mask), OUT / "encoder_model.onnx",
        input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": {0: "batch", 1: "enc"}, "attention_mask": {0: "batch", 1: "enc"},
                      "last_hidden_state": {0: "batch", 1: "enc"}}, **kw,
    )
    with torch.no_grad():
        hidden = Encoder(model)(src, src_mask)
    dec_ids = torch.tensor([[PAD, 5, 6]])
    present_names, present_axes = [], {}
    for i in range(layers):
        for part in ("decoder.key", "decoder.value", "encoder.key", "encoder.value"):
            name = f"present.{i}.{part}"
            present_names.append(name)
            present_axes[name] = {0: "batch", 2: "dec" if part.startswith("decoder") else "enc"}
    torch.onnx.export(
        Decoder(model), (dec_ids, src_mask, hidden), OUT / "decoder_model.onnx",
        input_names=["input_ids", "encoder_attention_mask", "encoder_hidden_states"],
        output_names=["logits", *present_names],
        dynamic_axes={"input_ids": {0: "batch", 1: "dec"}, "encoder_attention_mask": {0: "batch", 1: "enc"},
                      "encoder_hidden_states": {0: "batch", 1: "enc"}, "logits": {0: "batch", 1: "dec"},
                      **present_axes}, **kw,
    )
    with torch.no_grad():
        outs = Decoder(model)(dec_ids, src_mask, hidden)
    past = list(outs[1:])
    past_names = [n.replace("present.", "past_key_values.") for n in present_names]
    out_names = [n for n in present_names if ".decoder." in n]
    torch.onnx.export(
        DecoderWithPast(model, layers), (torch.tensor([[7]]), src_mask, *past),
        OUT / "decoder_with_past_model.onnx",
        input_names=["input_ids", "encoder_attention_mask", *past_names],
        output_names=["logits", *out_names],
        dynamic_axes={"input_ids": {0: "batch"}, "encoder_attention_mask": {0: "batch", 1: "enc"},
                      **{p: {0: "batch", 2: "past_dec" if ".decoder." in p else "enc"} for p in past_names},
                      "logits": {0: "batch"},
                      **{o: {0: "batch", 2: "dec"} for o in out_names}}, **kw,
    )


def byt5_small_shaped(out_dir: Path) -> int:
    """An untrained, random-weight model with ByT5-small's shape (≈300 M parameters: d_model
    1472, 12 encoder and 4 decoder layers), exported the same way. Only for timing the decoding
    loop at ReProver's real size (bench/portfolio_speed.py --byt5-small DIR); its outputs are
    meaningless and it is never committed."""
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=384, d_model=1472, d_kv=64, d_ff=3584, num_layers=12, num_decoder_layers=4,
        num_heads=6, relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0,
        pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD,
    )
    model = T5ForConditionalGeneration(config).eval()
    print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M", file=sys.stderr)
    export(model, out_dir)
    for f in sorted(out_dir.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes")
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--byt5-small-shape":
        return byt5_small_shaped(Path(sys.argv[2]))
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
        num_heads=4, relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0,
        pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD,
    )
    model = T5ForConditionalGeneration(config)
    train(model)
    export(model)
    reference = []
    for goal in dict.fromkeys(g for g, _ in PAIRS):
        src, mask = batch([goal])
        with torch.no_grad():
            out = model.generate(input_ids=src, attention_mask=mask, max_new_tokens=48, do_sample=False)
        raw = bytes(t - 3 for t in out[0].tolist() if 3 <= t < 259).decode("utf-8", errors="replace")
        reference.append({"goal": goal, "targets": [t for g, t in PAIRS if g == goal], "torch_greedy": raw})
    (OUT / "reference.json").write_text(json.dumps(reference, ensure_ascii=False, indent=1) + "\n")
    for f in sorted(OUT.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
