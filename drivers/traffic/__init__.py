"""Record and replay device traffic (docs/replay.md).

Recording taps the lowest layer each driver touches -- pyscard's ``scard``
module, the python-escpos device object, the pyserial port -- and writes a JSONL
trace; ``replay://PATH.jsonl`` puts a fake of that layer under the *same*
driver class and raises :class:`~drivers.traffic.trace.TraceDivergence` when
the driver's traffic differs from the trace.

Modules: :mod:`.trace` (format, errors), :mod:`.tape` (recording and replay
ends), :mod:`.hygiene` (PIN digests, sealed card data), :mod:`.summaries`
(human descriptions), :mod:`.pcsc`, :mod:`.escpos`, :mod:`.serial` (one per
transport), :mod:`.recording` (``record=``), :mod:`.replay_scheme` (``replay://``).
"""
