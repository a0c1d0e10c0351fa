"""The simulated chip: a driver over the plant, with sensor faults and disturbances."""
