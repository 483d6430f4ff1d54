"""The payment channels' own APIs, simulated: each speaks its channel's real wire protocol."""
