"""eifdiff: find out why two builds of the same AWS Nitro Enclave image (EIF) differ."""

__version__ = "0.1.0"
