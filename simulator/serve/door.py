"""The acquiring app's door: an outside cashier app's Intent in, the vendor app's
result out.

The cashier app sends what it would put in the vendor's Intent, as the JSON
form of the contract model's
:class:`~simulator.terminal.contract.IntentRequest` (the ``component``,
``action`` or ``uri`` it addresses and the typed ``extras``), and gets back
what the vendor's acquiring app returns when the payment ends:
:meth:`~simulator.terminal.contract.IntentResult.to_json` (an activity result,
or the result broadcast for vendors that answer by broadcast). This module is
the one adapter between that request and the terminal's acquiring app
(:meth:`~simulator.terminal.acquiring_app.AcquiringApp.on_intent`, reached
through the terminal's cashier-app relay so the shop announces and prints as
it does for its own sales). A request addressed to another vendor's app than
the served terminal's is a 404 naming both (``possim serve --vendor NAME``
serves another vendor's terminal).

A request the vendor's app would refuse gets the vendor's own refusal
(``on_intent``'s answer), and the shop's log gets the
:class:`~simulator.terminal.contract.ContractViolation` that says which key
broke which rule (:class:`IntentRefused`, an event and one line on the log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from simulator.errors import SimulatorError, TerminalError
from simulator.events import EventPayload
from simulator.terminal.contract import (
    ContractViolation,
    IntentContract,
    IntentRequest,
    IntentResult,
    profile_for,
)

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
class IntentRefused(EventPayload):
    """The acquiring app refused a cashier app's Intent: the contract rule it broke."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "intent_refused"

    vendor: str
    violation: str  # the ContractViolation's message: the key and the rule

    def summary(self) -> str:
        return f"{self.vendor} acquiring app refused the Intent: {self.violation}"


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

    @staticmethod
    def parse(body: Any) -> IntentRequest:
        """The contract's IntentRequest from the body's JSON; DoorError (400) naming what
        is wrong with its shape."""
        try:
            return IntentRequest.from_json(body)
        except ContractViolation as exc:
            raise DoorError(f"the Intent: {exc}", status=400) from None

    @staticmethod
    def _not_here(request: IntentRequest, served: IntentContract) -> str:
        """Why a request addressed to another app finds no app here, naming both."""
        address = request.to_json()
        addressed = ", ".join(f"{k} {v}" for k, v in address.items() if k != "extras")
        other = profile_for(request)
        if other is None:
            return (
                f"the Intent addresses no app possim knows ({addressed}); this shop's "
                f"terminal is {served.name} ({served.component})"
            )
        return (
            f"the Intent addresses the {other.name} acquiring app ({addressed}); this shop's "
            f"terminal is {served.name} ({served.component}): serve {other.name} with "
            f"possim serve --vendor {other.name}"
        )

    def submit(self, request: IntentRequest) -> Pending:
        """Hand ``request`` to the acquiring app; refusals come back at once.

        Raises:
            DoorError: addressed to an app this terminal does not have (404: naming the
                app addressed and the vendor served), or the
                terminal is busy with another payment (409).
        """
        contract = self._contract()
        if not contract.addresses(request):
            raise DoorError(self._not_here(request, contract), status=404)
        terminal = self._shop.terminal
        try:
            contract.parse_request(request)
        except ContractViolation as exc:
            self._shop.bus.publish(IntentRefused(contract.name, str(exc)))
            return Pending(None, terminal.acquiring_app.on_intent(request))
        try:
            return Pending(terminal.start_relay(request), None)
        except TerminalError:
            raise DoorError(
                "the terminal is busy with another payment; retry after it", status=409
            ) from None
