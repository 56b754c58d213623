"""nbgrader configuration for students who hand in through the exchange on a shared machine.

Install it where every student's nbgrader finds it, for example as
/etc/jupyter/nbgrader_config.py (or ~/.jupyter/nbgrader_config.py for one user). Students
then run `nbgrader fetch_assignment <module>`, `nbgrader submit <module>` and
`nbgrader fetch_feedback <module>` from their home folder. The course id and the exchange
must be those of the instructor's nbgrader_config.py.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "genai"
c.Exchange.root = os.environ.get("GENLAB_EXCHANGE", "/srv/nbgrader/exchange")
