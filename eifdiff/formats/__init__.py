"""Byte formats inside an EIF: the container, CPIO, metadata JSON, signature CBOR/COSE, kernel."""
