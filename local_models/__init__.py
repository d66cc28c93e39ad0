"""local_models: on-device models and the model-free tactic portfolio.

The model catalog, user configuration, downloads from the Hugging Face hub, the GGUF
backend (llama-cpp-python, batched n-best), the ONNX backends (sentence encoder, ByT5
tactic generator) and the portfolio generator. Everything here runs off the event loop and
is reached through the small interfaces in :mod:`local_models.generation`.

This package never imports :mod:`copilot` or :mod:`lsp_proxy`.
"""
