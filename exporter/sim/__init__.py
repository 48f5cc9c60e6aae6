"""A simulated GPU backend for machines without a GPU; every sample is marked simulated."""
