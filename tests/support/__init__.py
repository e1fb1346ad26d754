"""Helpers the test tiers share: toy and outside-style models, fastai Learners, paths, threads."""
