"""Device drivers: one module per device class, chosen by URL.

Nothing in this package knows whether a device is real or simulated; simulated
devices plug in through the same URL registry as real transports.
"""
