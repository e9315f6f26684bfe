"""Model releases (issue #9): build or import a candidate, gate it offline against production, deploy it, and drive
the edge's canary to promotion or rollback. ``release/run.py`` is the command ``python -m vitrine_gpu release`` (``npm run release``)."""
