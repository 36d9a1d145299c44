"""The ML admin pages, one module per concern: datasets, the model registry, training runs."""
