"""The hub: its store, enrolment, forwarding, web app, exports and reports.

Builds on core and the wire protocol; never imports the kit.
"""
