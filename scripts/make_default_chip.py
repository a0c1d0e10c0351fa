"""Write the default chip's HotSpot description: floorplan, layer stack and package.

The default profile (DESIGN §2) is an 8 x 8 Clements mesh on a 5 mm x 5 mm die. Each 625 µm
mesh cell holds one 300 x 100 µm heater surrounded by four filler blocks, as in the
`v2_mesh64` reference case. The stack is the usual silicon-photonics one (oxide cladding with
the heaters, buried oxide, the silicon substrate, a die-attach epoxy) on a copper submount
(HotSpot's spreader) and base (sink). `--r-convec` is the one free parameter: the committed
value makes the die-to-ambient resistance for uniform heater power 50 K/W, which
`tests/test_chip.py` checks.

    .venv/bin/python scripts/make_default_chip.py [--r-convec 48.87]
"""

from __future__ import annotations

import argparse
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "drivers" / "photon_drivers" / "profiles"
PITCH_M = 625e-6
HEATER_W_M, HEATER_H_M = 300e-6, 100e-6
CELLS = 8

# name, lateral, power, volumetric heat capacity J/(m^3 K), conductivity W/(m K), thickness m
LAYERS = (
    ("oxide cladding", "Y", "Y", 1.65e6, 1.4, 2.5e-6),
    ("buried oxide", "Y", "N", 1.65e6, 1.4, 2e-6),
    ("silicon substrate", "Y", "N", 1.63e6, 148.0, 725e-6),
    ("die-attach epoxy", "Y", "N", 2.0e6, 1.5, 25e-6),
)


def floorplan() -> str:
    side = (PITCH_M - HEATER_W_M) / 2
    cap = (PITCH_M - HEATER_H_M) / 2
    lines = ["# Default chip: 8 x 8 mesh cells of 625 um, one heater and four fillers each."]
    for row in range(CELLS):
        for col in range(CELLS):
            x, y = col * PITCH_M, row * PITCH_M
            blocks = (
                (f"h{row}{col}", HEATER_W_M, HEATER_H_M, x + side, y + cap),
                (f"fl{row}{col}", side, PITCH_M, x, y),
                (f"fr{row}{col}", side, PITCH_M, x + side + HEATER_W_M, y),
                (f"fb{row}{col}", HEATER_W_M, cap, x + side, y),
                (f"ft{row}{col}", HEATER_W_M, cap, x + side, y + cap + HEATER_H_M),
            )
            lines += [
                f"{n}\t{w:.9f}\t{h:.9f}\t{left:.9f}\t{bottom:.9f}"
                for n, w, h, left, bottom in blocks
            ]
    return "\n".join(lines) + "\n"


def layer_file() -> str:
    lines = [
        "# Default chip stack, top first: index, lateral, power, rho*c, resistivity, t, floorplan"
    ]
    for index, (name, lateral, power, rho_c, k, t) in enumerate(LAYERS):
        lines += [
            f"# {name}",
            str(index),
            lateral,
            power,
            repr(rho_c),
            repr(1.0 / k),
            repr(t),
            "default.flp",
            "",
        ]
    return "\n".join(lines)


def config(r_convec: float) -> str:
    keys = {
        "s_spreader": 0.007, "t_spreader": 0.0005, "k_spreader": 400.0, "p_spreader": 3.55e6,
        "s_sink": 0.01, "t_sink": 0.001, "k_sink": 400.0, "p_sink": 3.55e6,
        "c_convec": 0.05, "r_convec": r_convec,
        "ambient": 298.15, "init_temp": 298.15, "sampling_intvl": 0.01,
        "model_type": "grid", "grid_rows": 16, "grid_cols": 16, "grid_map_mode": "avg",
        "grid_layer_file": "default.lcf",
    }  # fmt: skip
    header = "# Default chip package: copper submount (spreader) and base (sink), convection.\n"
    return header + "".join(f"-{k}\t{v}\n" for k, v in keys.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--r-convec", type=float, default=48.87)
    args = parser.parse_args()
    (OUT / "default.flp").write_text(floorplan())
    (OUT / "default.lcf").write_text(layer_file())
    (OUT / "default.config").write_text(config(args.r_convec))
    print(f"wrote default.flp, default.lcf, default.config to {OUT}")


if __name__ == "__main__":
    main()
