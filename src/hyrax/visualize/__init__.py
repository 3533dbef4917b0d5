"""The latent-space explorer behind the ``visualize`` verb: data, plots, the live app and static files."""
