"""What polymodal writes and reads back, below every layer that uses it (cache, data, engine): atomic
writes that replace only what they wrote (:mod:`~polymodal.storage.atomic`), model bundles of JSON and
safetensors (:mod:`~polymodal.storage.bundle`), and safetensors files checked before use
(:mod:`~polymodal.storage.tensor_files`)."""
