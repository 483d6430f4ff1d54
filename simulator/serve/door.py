"""The acquiring app's door: an outside cashier app's Intent in, the vendor app's
result out.

The cashier app sends what it would put in the vendor's Intent -- the
``component`` (or ``action``) it addresses and the ``extras`` -- and gets back
what the vendor's acquiring app returns when the payment ends. This module is
the one adapter between that request and the terminal's acquiring app
(:meth:`~simulator.terminal.acquiring_app.AcquiringApp.on_intent`, reached
through the terminal's cashier-app relay so the shop announces and prints as
it does for its own sales); nothing else in ``simulator.serve`` knows the
contract model.

A request the vendor's app would refuse gets the vendor's own refusal
(``on_intent``'s answer), and the shop's log gets the
:class:`~simulator.terminal.contract.ContractViolation` that says which key
broke which rule (:class:`IntentRefused`, an event and one line on the log).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from simulator.errors import SimulatorError, TerminalError
from simulator.events import EventPayload
from simulator.terminal.contract import ContractViolation, IntentContract, IntentResult

if TYPE_CHECKING:
    from simulator.shop import Shop
    from simulator.terminal.terminal import SaleHandle

SOURCE = "serve"


class DoorError(SimulatorError):
    """The request cannot reach the acquiring app (addressed elsewhere, terminal busy)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status that says so


@attrs.frozen
class IntentRequest:
    """What a cashier app puts in the vendor's Intent: an explicit ``component`` or an
    implicit ``action`` (one of them), and the ``extras``."""

    extras: Mapping[str, Any]
    component: str | None = None
    action: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> IntentRequest:
        """The request from its JSON form; DoorError (400) naming what is wrong."""
        if not isinstance(body, Mapping):
            raise DoorError("the body must be a JSON object {component|action, extras}", status=400)
        unknown = sorted(set(body) - {"component", "action", "extras"})
        if unknown:
            raise DoorError(
                f"unknown field {unknown[0]!r}: expected component or action, and extras",
                status=400,
            )
        extras = body.get("extras")
        if not isinstance(extras, Mapping):
            raise DoorError("extras: expected a JSON object of the Intent's extras", status=400)
        component, action = body.get("component"), body.get("action")
        if (component is None) == (action is None):
            raise DoorError("give exactly one of component and action", status=400)
        for name, value in (("component", component), ("action", action)):
            if value is not None and not isinstance(value, str):
                raise DoorError(f"{name}: expected a string", status=400)
        return cls(dict(extras), component, action)


@attrs.frozen
class IntentRefused(EventPayload):
    """The acquiring app refused a cashier app's Intent: the contract rule it broke."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "intent_refused"

    vendor: str
    violation: str  # the ContractViolation's message: the key and the rule

    def summary(self) -> str:
        return f"{self.vendor} acquiring app refused the Intent: {self.violation}"


def result_json(result: IntentResult) -> dict[str, Any]:
    """What the vendor's app returns, as the door answers it."""
    return {"result_code": result.result_code, "extras": dict(result.extras)}


@attrs.frozen
class Pending:
    """A request the acquiring app took: wait for its result (``wait``) in a thread."""

    handle: SaleHandle | None
    refusal: IntentResult | None

    def wait(self, timeout: float) -> IntentResult | None:
        """The vendor app's result; None if the payment still runs after ``timeout`` s."""
        if self.refusal is not None:
            return self.refusal
        assert self.handle is not None
        sale = self.handle.wait(timeout)
        if sale is None:
            return None
        assert sale.answer is not None
        return sale.answer


class AcquiringDoor:
    """The door to one shop's acquiring app; each refusal is an :class:`IntentRefused`
    event (the served shop's log prints it)."""

    def __init__(self, shop: Shop) -> None:
        self._shop = shop

    @property
    def vendor(self) -> str:
        return self._contract().name

    @property
    def component(self) -> str:
        return self._contract().component

    def _contract(self) -> IntentContract:
        return self._shop.terminal.acquiring_app.contract

    def submit(self, request: IntentRequest) -> Pending:
        """Hand ``request`` to the acquiring app; refusals come back at once.

        Raises:
            DoorError: addressed to an app this terminal does not have (404), or the
                terminal is busy with another payment (409).
        """
        contract = self._contract()
        if request.component != contract.component:
            addressed = request.component or f"action {request.action}"
            raise DoorError(
                f"no activity {addressed} on this terminal: the {contract.name} acquiring app "
                f"is {contract.component}",
                status=404,
            )
        terminal = self._shop.terminal
        try:
            contract.parse_request(request.extras)
        except ContractViolation as exc:
            self._shop.bus.publish(IntentRefused(contract.name, str(exc)))
            return Pending(None, terminal.acquiring_app.on_intent(request.extras))
        try:
            return Pending(terminal.start_relay(request.extras), None)
        except TerminalError:
            raise DoorError(
                "the terminal is busy with another payment; retry after it", status=409
            ) from None
