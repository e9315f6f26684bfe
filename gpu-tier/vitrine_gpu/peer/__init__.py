"""The standard server the GPU-tier bench compares against (``npm run bench:gpu -- --peer``): the same heavy model
behind TorchServe with its dynamic batching (``torchserve.py`` starts it, ``handler.py`` is its model handler)."""
