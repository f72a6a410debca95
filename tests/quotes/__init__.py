"""Tests of webapp.quotes."""
