"""genlab: the students' runtime of the course "Generative AI, from judging to creating".

The notebooks import it for what is not the lesson itself. Each topic keeps its model,
its figures and its widget together, in one folder per module:

* `genlab.classifiers` (module 01): classifiers measured, the critic of generated digits;
* `genlab.lm` (02): the neural character model, its training and sampling;
* `genlab.gan` (03) and `genlab.diffusion` (04): the generators, trained on CPU;
* `genlab.ingredients` (05): what changed, data, compute and attention, measured;
* `genlab.gpt` (06): a tiny GPT, the recurrent network it replaced, the attention explorer;
* `genlab.families` (07): a VAE and a normalizing flow, and every family of creators measured
  side by side;
* `genlab.risks` (08): hallucination, copying, bias and detectors measured.

What every topic shares has one public home: data sets (`genlab.data`), the corpus and
vocabularies (`genlab.text`), the checks that test cells call (`genlab.checks`), the
figure palette and digit plots (`genlab.figures`), the live-figure machinery of the
widgets (`genlab.live`) and torch on one thread (`genlab.threads`).

The instructor's grading server, `genlab.grader`, lives beside it and is never imported
by it. This package never holds an exercise's answer in the form the exercise asks for.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genlab")  # set once, in pyproject.toml
except PackageNotFoundError:  # a copy of the folder, not installed
    __version__ = "unknown"
