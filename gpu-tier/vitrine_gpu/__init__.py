"""vitrine GPU tier: the SageMaker-contract ranking server, the models, and the training pipeline."""
