"""Real hardware over a serial link: the COBS+CRC protocol, the link, the driver, and a
firmware emulator that speaks the same protocol over a pty or TCP."""
