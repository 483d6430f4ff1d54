"""``possim serve``: one shop as a long-running local service on the real clock.

An outside party's software takes a party's place: a cashier app starts the
vendor's acquiring app through :mod:`simulator.serve.door`; a test plays the
cardholder and the customer through the shop's :class:`~simulator.hands.Hands`
and reads it through :class:`~simulator.view.ShopView`, both over HTTP
(:mod:`simulator.serve.api`), with the event stream on a WebSocket. The API is
described in ``firmware_fixtures/serve/shop_api.openapi.yaml`` (served at
``/openapi.yaml``); the user's guide is docs/cashier_apps.md.
"""
