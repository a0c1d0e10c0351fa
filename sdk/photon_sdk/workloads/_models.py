"""ResNet-50, BERT-base and GPT-2 small as GEMM lists, from their published layer shapes.

Shapes only (batch 1, inference); sources, in docs/workloads.md §1:
- ResNet-50: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1
  (50-layer column), as torchvision's reference ``resnet50`` builds it (v1.5: the stride-2
  sits on each stage's first 3x3 conv; a 1x1 stride-2 projection on the shortcut), 224x224
  input. Convolutions are GEMMs after im2col: K = C_in·kh·kw, N = C_out, M = output pixels.
- BERT-base: Devlin et al., "BERT", NAACL 2019, §3 (L = 12, H = 768, A = 12, feed-forward
  4H = 3072), as Hugging Face's ``BertModel`` builds each layer (separate Q, K, V projections,
  attention output, intermediate, output; the pooler on [CLS]).
- GPT-2 small: Radford et al., "Language Models are Unsupervised Multitask Learners", 2019,
  Table 2 (12 layers, d_model 768, 117M/124M), as OpenAI's ``gpt-2`` ``model.py`` builds it
  (fused ``c_attn`` 768 → 2304, ``c_proj``, ``mlp.c_fc`` 768 → 3072, ``mlp.c_proj``; 12 heads;
  the language-model head tied to the 50,257-token embedding).

Embedding lookups, normalisation, softmax, activations, pooling and residual additions are not
matrix products with a fixed operand; they run on the host between GEMMs and are not tasks.
"""

from __future__ import annotations

from collections.abc import Callable

from ._gemm import Gemm, Workload, WorkloadError, from_gemms

__all__ = ["MODELS", "bert_base", "gpt2_small", "resnet50"]

# (blocks, bottleneck width, output channels, first block's stride) per stage: Table 1.
_RESNET50_STAGES = ((3, 64, 256, 1), (4, 128, 512, 2), (6, 256, 1024, 2), (3, 512, 2048, 2))


def resnet50(*, image_size: int = 224) -> Workload:
    """ResNet-50 at batch 1: 53 convolutions (incl. 4 projection shortcuts) and the classifier.

    25.5 M weights (conv + fc, no batch-norm), 3.9 G multiply-accumulates at 224 x 224.
    """
    if image_size < 32 or image_size % 32:
        raise WorkloadError(f"image_size: a multiple of 32 of at least 32, got {image_size}")
    gemms: list[Gemm] = []
    side = image_size // 2  # conv1: 7x7, stride 2
    gemms.append(Gemm("conv1", m=side * side, k=3 * 7 * 7, n=64))
    side //= 2  # 3x3 max-pool, stride 2
    channels = 64
    block_out: tuple[str, ...] = ("conv1",)
    for stage, (blocks, width, out_channels, stride) in enumerate(_RESNET50_STAGES, start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            block_stride = stride if block == 0 else 1
            out_side = side // block_stride
            a = Gemm(f"{prefix}.conv1", m=side * side, k=channels, n=width, after=block_out)
            b = Gemm(f"{prefix}.conv2", m=out_side**2, k=width * 9, n=width, after=(a.name,))
            c = Gemm(f"{prefix}.conv3", m=out_side**2, k=width, n=out_channels, after=(b.name,))
            gemms += [a, b, c]
            ends: tuple[str, ...] = (c.name,)
            if block == 0:
                # Projection shortcut (1x1, the block's stride) reads the block's input.
                down = Gemm(
                    f"{prefix}.downsample",
                    m=out_side**2,
                    k=channels,
                    n=out_channels,
                    after=block_out,
                )
                gemms.append(down)
                ends += (down.name,)
            else:
                # Identity shortcut: the sum needs the block input, which conv1 already read.
                ends += block_out
            block_out = ends
            channels = out_channels
            side = out_side
    gemms.append(Gemm("fc", m=1, k=channels, n=1000, after=block_out))
    return from_gemms(gemms, name="resnet50")


def _encoder_layer(
    prefix: str,
    seq_len: int,
    hidden: int,
    heads: int,
    ffn: int,
    layer_in: tuple[str, ...],
    *,
    fused_qkv: bool,
) -> tuple[list[Gemm], tuple[str, ...]]:
    """One transformer layer's GEMMs; returns them and the names the next layer reads."""
    head_dim = hidden // heads
    gemms: list[Gemm] = []
    if fused_qkv:
        qkv = Gemm(f"{prefix}.attn.c_attn", m=seq_len, k=hidden, n=3 * hidden, after=layer_in)
        gemms.append(qkv)
        q_src = k_src = v_src = (qkv.name,)
    else:
        q, k, v = (
            Gemm(f"{prefix}.attention.{p}", m=seq_len, k=hidden, n=hidden, after=layer_in)
            for p in ("query", "key", "value")
        )
        gemms += [q, k, v]
        q_src, k_src, v_src = (q.name,), (k.name,), (v.name,)
    # Q·Kᵀ per head: the mesh holds Kᵀ (head_dim x seq_len) and streams the seq_len queries.
    scores = Gemm(
        f"{prefix}.attn.scores",
        m=seq_len,
        k=head_dim,
        n=seq_len,
        batch=heads,
        after=tuple(dict.fromkeys(q_src + k_src)),
        operand="activation",
    )
    # softmax(scores)·V per head: the mesh holds V (seq_len x head_dim).
    context = Gemm(
        f"{prefix}.attn.context",
        m=seq_len,
        k=seq_len,
        n=head_dim,
        batch=heads,
        after=tuple(dict.fromkeys((scores.name, *v_src))),
        operand="activation",
    )
    out_name = f"{prefix}.attn.c_proj" if fused_qkv else f"{prefix}.attention.output"
    out = Gemm(out_name, m=seq_len, k=hidden, n=hidden, after=(context.name,))
    up_name = f"{prefix}.mlp.c_fc" if fused_qkv else f"{prefix}.intermediate"
    down_name = f"{prefix}.mlp.c_proj" if fused_qkv else f"{prefix}.output"
    # The residual sum before the MLP needs the layer input, which the projections read.
    up = Gemm(up_name, m=seq_len, k=hidden, n=ffn, after=(out.name,))
    down = Gemm(down_name, m=seq_len, k=ffn, n=hidden, after=(up.name,))
    gemms += [scores, context, out, up, down]
    return gemms, (down.name, out.name)


def _check_seq_len(seq_len: int, max_len: int) -> None:
    if not isinstance(seq_len, int) or not 1 <= seq_len <= max_len:
        raise WorkloadError(f"seq_len: an integer in [1, {max_len}], got {seq_len!r}")


def bert_base(*, seq_len: int = 128) -> Workload:
    """BERT-base encoder at batch 1 (12 layers, 768 hidden, 12 heads) and its pooler.

    ``seq_len`` defaults to 128, the length of 90 % of BERT's pre-training steps (at most 512,
    its position embeddings).
    """
    _check_seq_len(seq_len, 512)
    gemms: list[Gemm] = []
    layer_in: tuple[str, ...] = ()
    for layer in range(12):
        new, layer_in = _encoder_layer(
            f"encoder.layer.{layer}", seq_len, 768, 12, 3072, layer_in, fused_qkv=False
        )
        gemms += new
    gemms.append(Gemm("pooler.dense", m=1, k=768, n=768, after=layer_in))
    return from_gemms(gemms, name=f"bert_base-s{seq_len}")


def gpt2_small(*, seq_len: int = 1024) -> Workload:
    """GPT-2 small at batch 1 (12 layers, 768 wide, 12 heads) with its tied LM head.

    ``seq_len`` defaults to 1024, GPT-2's context (``n_ctx``); the whole context is one
    forward pass (the causal mask zeroes scores on the host, the products are full size).
    """
    _check_seq_len(seq_len, 1024)
    gemms: list[Gemm] = []
    layer_in: tuple[str, ...] = ()
    for layer in range(12):
        new, layer_in = _encoder_layer(
            f"h.{layer}", seq_len, 768, 12, 3072, layer_in, fused_qkv=True
        )
        gemms += new
    gemms.append(Gemm("lm_head", m=seq_len, k=768, n=50257, after=layer_in))
    return from_gemms(gemms, name=f"gpt2_small-s{seq_len}")


# Name -> builder with default arguments: photonctl's --workload choices.
MODELS: dict[str, Callable[[], Workload]] = {
    "resnet50": resnet50,
    "bert_base": bert_base,
    "gpt2_small": gpt2_small,
}
