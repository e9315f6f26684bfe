"""ONNX export of the light model and the onnxruntime-vs-PyTorch parity check."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from .model import LightMLP

OPSET = 17
INPUT_NAME = "features"
OUTPUT_NAME = "score"


def export_onnx(model: LightMLP, path: Path, n_features: int) -> None:
    model.eval()
    dummy = torch.zeros(4, n_features, dtype=torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is the one asked for
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "n"}, OUTPUT_NAME: {0: "n"}},
        )


def torch_scores(model: LightMLP, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(x, dtype=torch.float32)).numpy().astype(np.float32)


def onnx_scores(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]


def onnx_parity(model: LightMLP, path: Path, x: np.ndarray) -> float:
    """max |onnxruntime - PyTorch| over the rows of x."""
    return float(np.max(np.abs(onnx_scores(path, x) - torch_scores(model, x)))) if len(x) else 0.0
