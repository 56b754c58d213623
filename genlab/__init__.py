"""genlab: the helper package of the course "Generative AI, from judging to creating".

The notebooks import it for what is not the lesson itself: data (`genlab.data`,
`genlab.text`), measuring models (`genlab.models`), the small models trained on CPU and
the loops that train them (`genlab.lm`, `genlab.gan`, `genlab.diffusion`, `genlab.recall`),
module 05's measurements of data and compute (`genlab.scaling`), figures (`genlab.plots`),
interactive widgets (`genlab.widgets`), the checks their tests call (`genlab.checks`),
and the nbgrader plumbing of the course (`genlab.grading`, for instructors).

It never holds an exercise's answer in the form the exercise asks for.
"""

__version__ = "0.1.0"
