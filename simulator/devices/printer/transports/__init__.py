"""What carries the bytes between a driver and the virtual printer: USB, pty, TCP."""
