"""Cryptography for fieldkit: the age v1 file format (``age``) and its Bech32 key encoding."""
