"""Transformers as they come (issue 16): attention that differentiates twice, dict batches and
ModelOutputs, sequence losses, the user's model and the global attention settings untouched.

References are independent of landscope's operators: ``torch.func.hessian`` of a hand-written
loss, in float64, under the math SDPA kernel, on a copy of the model whose ``nn.LayerNorm`` s are
written out in tensor operations.  (The copy is needed because ``torch.func.hessian``, and
``jacrev(jacrev)``, are wrong for the mixed input/weight second derivatives of
``F.layer_norm`` in torch 2.13: ``test_torch_func_layer_norm_reference_needs_written_out_norm``
shows it against finite differences, so that the reference is known to be right.)
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, hessian
from torch.nn.attention import SDPBackend, sdpa_kernel

from _problems import assert_close_report
from landscope import Problem
from landscope.curvature import (
    GGNOperator,
    HessianOperator,
    NoiseCovarianceOperator,
    per_sample_gradients,
    top_eigenpairs,
)
from landscope.problem import SequenceCrossEntropy, attention_for_derivatives

TOL = 1e-10  # float64, products against the dense reference (the acceptance bound)


# --- references ---------------------------------------------------------------------------
class _WrittenLayerNorm(nn.Module):
    """nn.LayerNorm in plain tensor operations (same parameter names)."""

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        self.eps = ln.eps
        self.weight = ln.weight
        self.bias = ln.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        var = (x - mu).square().mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


def _written_out(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.LayerNorm):
                setattr(parent, name, _WrittenLayerNorm(child))
    return model


def _reference_hessian(problem: Problem, loss_of_output, x) -> torch.Tensor:
    """torch.func.hessian of theta -> loss_of_output(model(x)) on the written-out copy, one
    batch, math SDPA kernel."""
    model = _written_out(problem.model)
    layout = problem.layout

    def f(theta):
        params = layout.unflatten(theta)
        if isinstance(x, dict):
            out = functional_call(model, params, (), {**x, **problem.model_kwargs})
        else:
            out = functional_call(model, params, (x,))
        return loss_of_output(out)

    with sdpa_kernel(SDPBackend.MATH):
        return hessian(f)(problem.theta_from_model())


def _sdpa_flags() -> tuple[bool, ...]:
    b = torch.backends.cuda
    return (
        b.flash_sdp_enabled(),
        b.mem_efficient_sdp_enabled(),
        b.math_sdp_enabled(),
        b.cudnn_sdp_enabled(),
    )


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


# --- models ---------------------------------------------------------------------------------
class _EncoderClassifier(nn.Module):
    """Embedding -> nn.TransformerEncoder (SDPA inside nn.MultiheadAttention) -> mean -> logits."""

    def __init__(self, vocab: int = 7, d: int = 8, classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, 2, 8, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(ids)).mean(1))


def _encoder_problem(**kw):
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 7, (12, 5), generator=gen)
    y = torch.randint(0, 3, (12,), generator=gen)
    model = _seeded(_EncoderClassifier().double(), 1)
    return Problem(model, "cross_entropy", (ids, y), chunk_size=5, **kw), ids, y


def _gpt2(n_layer: int = 1, attn: str = "sdpa"):
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(
        vocab_size=11,
        n_positions=8,
        n_embd=8,
        n_layer=n_layer,
        n_head=2,
        n_inner=8,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation=attn,
    )
    torch.manual_seed(0)  # transformers initializes from the global generator; reseeded below
    return _seeded(transformers.GPT2LMHeadModel(config).double().eval(), 2)


def _lm_batch(n: int = 5, length: int = 6):
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 11, (n, length), generator=gen)
    mask = torch.ones(n, length, dtype=torch.long)
    mask[0, 4:] = 0  # right padding in two sequences
    mask[2, 3:] = 0
    return ids, mask


def _token_mean_loss(ids, mask):
    labels = ids.masked_fill(mask == 0, -100)

    def loss(out):
        logits = out.logits if hasattr(out, "logits") else out
        v = logits.shape[-1]
        return F.cross_entropy(
            logits[:, :-1].reshape(-1, v), labels[:, 1:].reshape(-1), ignore_index=-100
        )

    return loss


# --- attention that differentiates twice ---------------------------------------------------
def test_torch_func_layer_norm_reference_needs_written_out_norm():
    """Why the references write LayerNorm out: torch.func.hessian of F.layer_norm is wrong in
    its mixed input/weight terms; the written-out norm agrees with finite differences."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    w = torch.randn(4, generator=gen, dtype=torch.float64)

    def fused(w):
        return F.layer_norm(x * w, (4,), w, None).sin().sum()

    def written(w):
        z = x * w
        mu = z.mean(-1, keepdim=True)
        var = (z - mu).square().mean(-1, keepdim=True)
        return ((z - mu) / torch.sqrt(var + 1e-5) * w).sin().sum()

    eps = 1e-5
    jac = torch.func.grad(fused)
    fd = torch.stack(
        [(jac(w + eps * e) - jac(w - eps * e)) / (2 * eps) for e in torch.eye(4).double()]
    )
    assert_close_report(hessian(written)(w), fd, rtol=1e-7, label="written-out vs FD")
    assert_close_report(
        torch.autograd.functional.hessian(fused, w), fd, rtol=1e-7, label="autograd vs FD"
    )
    # torch.func on the fused norm: if this starts to agree, the workaround can go.
    assert float((hessian(fused)(w) - fd).abs().max()) > 1e-3


def test_encoder_hessian_and_ggn_equal_dense_reference():
    problem, ids, y = _encoder_problem()
    assert problem.num_params < 800
    flags = _sdpa_flags()
    H = HessianOperator(problem, problem.theta_from_model(), block="vmap", cache=False)
    assert "math kernel of scaled_dot_product_attention" in H.backend_reason
    assert "1 nn.MultiheadAttention" in H.backend_reason
    reference = _reference_hessian(problem, lambda out: F.cross_entropy(out, y), ids)
    assert_close_report(H.to_dense(), reference, rtol=0, atol=TOL, label="encoder H")
    # One backward per vector (block="loop") through a cached graph: the same products.
    V = torch.randn(problem.num_params, 3, generator=torch.Generator().manual_seed(0)).double()
    H_loop = HessianOperator(problem, problem.theta_from_model(), block="loop", cache=True)
    assert_close_report(H_loop @ V, reference @ V, rtol=0, atol=TOL, label="encoder H loop")
    # GGN: J^T H_out J with J from jacrev (first derivatives only) and H_out closed form.
    theta = problem.theta_from_model()
    model = _written_out(problem.model)

    def logits(t):
        return functional_call(model, problem.layout.unflatten(t), (ids,))

    with sdpa_kernel(SDPBackend.MATH):
        J = torch.func.jacrev(logits)(theta).reshape(-1, problem.num_params)  # (n C, p)
        prob = logits(theta).softmax(-1)
    blocks = torch.block_diag(*[torch.diag(q) - torch.outer(q, q) for q in prob]) / len(y)
    G = GGNOperator(problem, theta)
    assert_close_report(G.to_dense(), J.T @ blocks @ J, rtol=0, atol=TOL, label="encoder GGN")
    assert _sdpa_flags() == flags


def test_gpt2_dict_batch_hessian_equals_dense_reference_and_settings_restored():
    model = _gpt2()
    ids, mask = _lm_batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = _sdpa_flags()
    problem = Problem(
        model, "next_token_cross_entropy", {"input_ids": ids, "attention_mask": mask}, chunk_size=3
    )
    assert problem.num_params < 1000 and problem.num_samples == 5  # N = sequences
    theta = problem.theta_from_model()
    H = HessianOperator(problem, theta, cache=True)
    assert "Hugging Face gpt2 (attn_implementation 'sdpa')" in H.backend_reason
    x = {"input_ids": ids, "attention_mask": mask}
    reference = _reference_hessian(problem, _token_mean_loss(ids, mask), x)
    assert_close_report(H.to_dense(), reference, rtol=0, atol=TOL, label="GPT-2 H")
    # Lanczos top eigenpairs agree with the dense spectrum.
    result = top_eigenpairs(H, 3, tol=1e-10, seed=0)
    dense = torch.linalg.eigvalsh(reference).flip(0)[:3]
    assert_close_report(result.eigenvalues, dense, rtol=1e-8, label="top-3")
    # The user's model and the global settings are as they were.
    assert _sdpa_flags() == flags
    assert model.config._attn_implementation == "sdpa"
    assert not model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_hf_kernel_without_double_backward_is_switched_and_restored():
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    class _NoDouble(torch.autograd.Function):
        @staticmethod
        def forward(ctx, g):
            return g.clone()

        @staticmethod
        def backward(ctx, gg):
            raise RuntimeError("landscope_test_attention has no double backward")

    class _Once(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q):
            return q.clone()

        @staticmethod
        def backward(ctx, g):
            return _NoDouble.apply(g)

    def once_attention(module, query, key, value, attention_mask, **kwargs):
        return sdpa_attention_forward(
            module, _Once.apply(query), key, value, attention_mask, **kwargs
        )

    AttentionInterface.register("landscope_test_attention", once_attention)
    model = _gpt2()
    model.set_attn_implementation("landscope_test_attention")
    ids, mask = _lm_batch(3)
    problem = Problem(model, "next_token_cross_entropy", {"input_ids": ids, "attention_mask": mask})
    theta = problem.theta_from_model()
    # Without the switch the double backward fails (so the test below can fail).
    t = theta.clone().requires_grad_(True)
    x, y = next(problem.chunks())
    with sdpa_kernel(SDPBackend.MATH), pytest.raises(RuntimeError, match="no double backward"):
        (g,) = torch.autograd.grad(problem.chunk_loss_sum(t, x, y), t, create_graph=True)
        torch.autograd.grad(g.sum(), t)
    H = HessianOperator(problem, theta)
    assert "'landscope_test_attention' -> 'sdpa'" in H.backend_reason
    hv = H @ torch.ones(problem.num_params, dtype=torch.float64)
    model.set_attn_implementation("sdpa")
    expected = HessianOperator(problem, theta) @ torch.ones(problem.num_params, dtype=torch.float64)
    assert_close_report(hv, expected, rtol=0, atol=TOL, label="switched kernel")
    # Restored after the calls, and after an exception inside the block.
    model.set_attn_implementation("landscope_test_attention")
    flags = _sdpa_flags()
    with pytest.raises(KeyError), attention_for_derivatives(model):
        assert model.config._attn_implementation == "sdpa"
        assert not torch.backends.cuda.flash_sdp_enabled()
        raise KeyError("inside")
    assert model.config._attn_implementation == "landscope_test_attention"
    assert _sdpa_flags() == flags
    del transformers


# --- sequence losses ------------------------------------------------------------------------
def test_sequence_loss_with_padding_equals_hand_computation():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
    target = torch.tensor([[1, 2, 3, 4], [0, 1, -100, -100], [2, -100, -100, -100]])
    logp = logits.log_softmax(-1)

    def token(i, t):  # -log p of target t+1 from the logits at t (shifted)
        return -float(logp[i, t, target[i, t + 1]])

    sums = [sum(token(i, t) for t in range(3) if target[i, t + 1] != -100) for i in range(3)]
    counts = [3, 1, 0]
    # sequences: each sequence's own mean (an empty one contributes 0)
    per_seq = SequenceCrossEntropy(shift=True, average="sequences")(logits, target)
    expected = [s / max(c, 1) for s, c in zip(sums, counts, strict=True)]
    assert torch.allclose(per_seq, torch.tensor(expected, dtype=torch.float64), atol=1e-14)
    # tokens, through a Problem (tbar = 4 / 3 tokens per sequence): the mean over all tokens
    model = _LogitsTable(logits)
    problem = Problem(model, "next_token_cross_entropy", (torch.arange(3), target), chunk_size=2)
    theta = problem.theta_from_model()
    assert problem._per_sample_loss.tokens_per_sequence == pytest.approx(4 / 3)
    assert float(problem.loss(theta)) == pytest.approx(sum(sums) / sum(counts), abs=1e-14)
    assert float(problem.loss(theta, [0, 1])) == pytest.approx(
        (sums[0] + sums[1]) / (2 * 4 / 3), abs=1e-14
    )
    # aligned targets (no shift) and a subset of positions
    aligned = SequenceCrossEntropy(shift=False, tokens_per_sequence=2.0)(logits, target)
    hand0 = -sum(float(logp[0, t, target[0, t]]) for t in range(4)) / 2
    assert float(aligned[0]) == pytest.approx(hand0, abs=1e-14)
    # accuracy: each sequence's fraction of correct scored tokens, averaged over sequences
    pred = logits.argmax(-1)
    fr = [
        sum(int(pred[i, t] == target[i, t + 1]) for t in range(3) if target[i, t + 1] != -100)
        / max(c, 1)
        for i, c in enumerate(counts)
    ]
    assert problem.evaluate(theta)["accuracy"] == pytest.approx(sum(fr) / 3)
    with pytest.raises(ValueError, match=r"logits \(n, T, V\) and targets \(n, T\)"):
        SequenceCrossEntropy()(logits[:, 0], target)


class _LogitsTable(nn.Module):
    """Sample index -> a free table of logits (so a loss can be checked by hand)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(logits.clone())

    def forward(self, i: torch.Tensor) -> torch.Tensor:
        return self.table[i]


def test_per_sequence_gradients_noise_covariance_on_gpt2():
    model = _gpt2()
    ids, mask = _lm_batch()
    data = {"input_ids": ids, "attention_mask": mask}
    problem = Problem(model, "next_token_cross_entropy", data, chunk_size=2)
    theta = problem.theta_from_model()
    G = per_sample_gradients(problem, theta)  # auto: HF masks do not vmap -> loop
    assert G.shape == (5, problem.num_params)
    assert_close_report(G.mean(0), problem.gradient(theta), rtol=1e-12, label="mean of rows")
    # Row i is the gradient of f_i = (token-loss sum of sequence i) / tbar, by hand.
    tbar = problem._per_sample_loss.tokens_per_sequence
    i = 2
    one = Problem(
        model,
        SequenceCrossEntropy(tokens_per_sequence=tbar),
        {"input_ids": ids[i : i + 1], "attention_mask": mask[i : i + 1]},
    )
    assert_close_report(G[i], one.gradient(theta), rtol=1e-12, label="row 2")
    C = NoiseCovarianceOperator(problem, theta, batch_size=2)
    assert C.num_samples == 5 and C.factor.shape == (problem.num_params, 5)
    centred = (G - G.mean(0)) * (3 / (2 * 4 * 5)) ** 0.5  # eq. 2.6: (N - n) / (n (N - 1) N)
    assert_close_report(C.factor, centred.T, rtol=1e-12, label="noise factor")
    # EWC's diagonal empirical Fisher over sequences
    from landscope.forgetting import fisher_diagonal

    assert_close_report(
        fisher_diagonal(problem, theta), (G * G).mean(0), rtol=1e-12, label="EWC Fisher"
    )


def test_tuple_inputs_vmap_per_sample_and_model_output_adapters():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(2, 4)

        def forward(self, u, v):
            return (self.a(u) + self.b(v), {"aux": u.sum()})

    gen = torch.Generator().manual_seed(0)
    u = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    v = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (6,), generator=gen)
    model = _seeded(TwoInputs().double(), 0)
    problem = Problem(model, "cross_entropy", ((u, v), y), chunk_size=4)
    theta = problem.theta_from_model()
    logits = model(u, v)[0]
    assert float(problem.loss(theta)) == pytest.approx(float(F.cross_entropy(logits, y)))
    G = per_sample_gradients(problem, theta, method="vmap")
    assert_close_report(G.mean(0), problem.gradient(theta), rtol=1e-12, label="tuple vmap")
    same = Problem(model, "cross_entropy", ((u, v), y), output=lambda out: out[0])
    assert float(same.loss(theta)) == pytest.approx(float(problem.loss(theta)))
    bad = Problem(model, "cross_entropy", ((u, v), y), output="logits")
    with pytest.raises(KeyError, match="no 'logits'"):
        bad.loss(theta)


def test_dataloader_of_dict_samples_with_padding_collator_matches_dict_batch():
    from torch.utils.data import DataLoader

    model = _gpt2()
    ids, mask = _lm_batch()
    lengths = mask.sum(1).tolist()
    samples = [{"input_ids": ids[i, : lengths[i]]} for i in range(5)]  # ragged

    def pad(items):
        longest = max(len(s["input_ids"]) for s in items)
        out_ids = torch.zeros(len(items), longest, dtype=torch.long)
        out_mask = torch.zeros(len(items), longest, dtype=torch.long)
        for j, s in enumerate(items):
            out_ids[j, : len(s["input_ids"])] = s["input_ids"]
            out_mask[j, : len(s["input_ids"])] = 1
        labels = out_ids.masked_fill(out_mask == 0, -100)
        return {"input_ids": out_ids, "attention_mask": out_mask, "labels": labels}

    loader = DataLoader(samples, batch_size=2, shuffle=True, collate_fn=pad)
    from_loader = Problem(model, "next_token_cross_entropy", loader, chunk_size=2)
    in_memory = Problem(
        model, "next_token_cross_entropy", {"input_ids": ids, "attention_mask": mask}
    )
    theta = in_memory.theta_from_model()
    assert from_loader.num_samples == 5
    assert float(from_loader.loss(theta)) == pytest.approx(float(in_memory.loss(theta)), abs=1e-13)
    assert_close_report(
        from_loader.gradient(theta), in_memory.gradient(theta), rtol=1e-11, label="loader grad"
    )
    with pytest.raises(KeyError, match="'labels'"):
        Problem(model, "cross_entropy", {"input_ids": ids})


# --- the zoo's tiny GPT ---------------------------------------------------------------------
def test_tiny_gpt_on_markov_sequences_hessian_equals_reference():
    from landscope.data import load_dataset
    from landscope.models import build_model

    ds = load_dataset("markov_sequences", targets="sequence", num_sequences=10, length=6)
    model = build_model(
        "tiny_gpt", input_shape=ds.input_shape, output_dim=ds.output_dim, embed=4, layers=1, mlp=8
    )
    model = _seeded(model.double(), 4)
    problem = Problem(model, "token_cross_entropy", ds.train, chunk_size=5)
    assert "1 _Block (scaled_dot_product_attention)" in problem.attention
    x, y = ds.train.x, ds.train.y
    H = HessianOperator(problem, problem.theta_from_model())
    reference = _reference_hessian(
        problem, lambda out: F.cross_entropy(out.reshape(-1, 10), y.reshape(-1)), x
    )
    assert_close_report(H.to_dense(), reference, rtol=0, atol=TOL, label="tiny GPT H")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gpt2_products_match_cpu():
    model = _gpt2()
    ids, mask = _lm_batch()
    data = {"input_ids": ids, "attention_mask": mask}
    cpu = Problem(model, "next_token_cross_entropy", data)
    gpu = Problem(model, "next_token_cross_entropy", data, device="cuda")
    theta = cpu.theta_from_model()
    V = torch.randn(cpu.num_params, 4, generator=torch.Generator().manual_seed(0)).double()
    expected = HessianOperator(cpu, theta) @ V
    actual = HessianOperator(gpu, theta.cuda()) @ V.cuda()
    assert_close_report(actual.cpu(), expected, rtol=0, atol=TOL, label="cuda H")
    G = per_sample_gradients(gpu, theta.cuda())
    assert_close_report(G.cpu(), per_sample_gradients(cpu, theta), rtol=1e-10, label="cuda G")
