"""Draw the fake digits of module 08 with module 04's diffusion model, and save them.

Module 08 trains detectors of fake digits, and it would spend most of its minute drawing
them: one sample costs 2,000 network passes. So this script draws them once, three
generators of rising quality, and writes `genlab/deepfakes.npz` (about 60 KB), which the
package ships. The generators are module 04's: its denoiser (`genlab.diffusion`),
trained with module 04's own noise schedule, noising, sampling step and guidance, which
this script reads from the reference solution in `source/04-sculpting-from-static`, so the
two cannot drift apart. Only the number of training steps differs: 500, 1,500 and 5,000
(module 04's).

Every pixel is rounded to one of the 17 grey levels of the real scans (0 to 16), so a
detector cannot tell the fakes by their precision, only by how they look.

Run from the repository root (about 50 s on 2 cores):

    .venv/bin/python scripts/make_deepfakes.py

Training is seeded; on another machine or torch version the pixels can differ slightly.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from genlab import data, diffusion

ROOT = Path(__file__).resolve().parents[1]
MODULE_04 = ROOT / "source/04-sculpting-from-static/04-sculpting-from-static.ipynb"
FORMULAS = ("linear_beta_schedule", "add_noise", "ddpm_step", "guided_eps")
STEPS = (500, 1500, 5000)
PER_DIGIT = 60
GUIDANCE = 2.0


def module_04_formulas(path: Path = MODULE_04) -> dict:
    """Module 04's reference functions, by name, run from its solution cells."""
    cells = json.loads(path.read_text())["cells"]
    namespace: dict = {}
    exec("import math\nimport numpy as np\nimport torch", namespace)
    for cell in cells:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") in FORMULAS:
            exec("".join(cell["source"]), namespace)
    missing = [name for name in FORMULAS if name not in namespace]
    if missing:
        raise RuntimeError(f"{path} defines no {missing}")
    return {name: namespace[name] for name in FORMULAS}


def draw_fakes(steps: tuple[int, ...] = STEPS, per_digit: int = PER_DIGIT) -> dict[str, np.ndarray]:
    """Train one generator per entry of `steps` and draw `per_digit` fakes of each digit.

    Returns:
        "labels": (10 * per_digit,) int64, the digit asked for; "steps": the training
        steps; and for each s in steps, "images_<s>": (10 * per_digit, 64) uint8 in 0..16.
    """
    f = module_04_formulas()
    split = data.load_digits()
    betas, alpha_bar = f["linear_beta_schedule"](1000)
    digits = (split.X_train * 2 - 1).astype(np.float32)
    labels = np.repeat(np.arange(10), per_digit)
    out = {"labels": labels, "steps": np.array(steps)}
    for n in steps:
        start = time.perf_counter()
        net = diffusion.digits_denoiser(seed=0)
        training = diffusion.train_denoiser(net, digits, split.y_train, f["add_noise"],
                                            alpha_bar, steps=n, seed=0, progress=False)  # fmt: skip
        drawn = diffusion.sample(training.net, labels, betas, alpha_bar, f["ddpm_step"],
                                 f["guided_eps"], w=GUIDANCE, seed=1)  # fmt: skip
        pixels = np.clip((drawn.images + 1) / 2, 0, 1)  # back to [0, 1], like the real ones
        out[f"images_{n}"] = np.round(pixels * 16).astype(np.uint8)
        print(f"{n} steps: trained and drew {len(labels)} in {time.perf_counter() - start:.1f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "genlab/deepfakes.npz")
    args = parser.parse_args()
    np.savez_compressed(args.out, **draw_fakes())
    print(f"wrote {args.out} ({args.out.stat().st_size / 1000:.0f} KB)")


if __name__ == "__main__":
    main()
