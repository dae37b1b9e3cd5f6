"""Helpers of tools/make_fixtures.py: safetensors writer, reference tokenizers, HF-shaped models."""
