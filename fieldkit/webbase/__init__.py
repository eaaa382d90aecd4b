"""What the kit's and the hub's web apps share: security headers and the like.

Builds on core only.
"""
