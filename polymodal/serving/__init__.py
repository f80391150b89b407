"""Serving a trained model without its training code: ONNX export and onnxruntime predictions."""
