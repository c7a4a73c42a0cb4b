"""`lsf explore`: the web app that walks the latent space (ASGI app, batching decoder, page)."""
