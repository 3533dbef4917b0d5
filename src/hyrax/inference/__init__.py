"""Inference machinery: the results format of infer and umap runs, trained-model loading, UMAP."""
