"""The thermal plant: HotSpot's formats and network (`hotspot`), the RC network a device
profile describes (`rc_network`) and the one place that turns a profile into it (`chip`)."""
