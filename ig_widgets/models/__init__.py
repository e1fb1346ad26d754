"""Bundled demo models and the plain-PyTorch model bundle; this layer imports no engine code."""
