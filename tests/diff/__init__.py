"""Tests of the differ: one cause per pair, row ordering."""
