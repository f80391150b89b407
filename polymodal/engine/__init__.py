"""Training engine (PyTorch Lightning), model bundles and atomic writes."""
