"""Write the bundled example data in data/example from the simulator (deterministic for the seed)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from salesplan.datasets import EXAMPLE_ARGS, simulate

logger = logging.getLogger("make_example_data")


def main() -> None:
    out = Path(__file__).resolve().parents[1] / "data" / "example"
    out.mkdir(parents=True, exist_ok=True)
    data, truth = simulate(**EXAMPLE_ARGS)
    for name, frame in data.tables.items():
        frame.drop(columns=["is_return"], errors="ignore").to_csv(out / f"{name}.csv", index=False)
    truth.stage_rates.to_csv(out / "truth_stage_rates.csv", index=False)
    meta = {"simulate": EXAMPLE_ARGS, "as_of": str(data.as_of)}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    for name, frame in data.tables.items():
        logger.info("%s: %d rows", name, len(frame))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
