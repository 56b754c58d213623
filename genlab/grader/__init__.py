"""genlab.grader: the instructor's grading server. Students never install or import it.

It grades untrusted hand-ins with nbgrader's own pipeline: each submission's kernel runs in
a sandbox (`sandbox`), every autograded test cell runs in a second kernel, the judge, which
calls the student's functions across a socket (`judge`; its rules for test-cell authors are
in docs/judge.md), and nbgrader's preprocessors put both in place (`preprocessors`, named in
nbgrader_config.py). `classroom` grades a class with several processes and reports on it,
`cli` is the `genlab` command, `demo` plays a whole term on a synthetic class built by
`handins`, and `private` lists the private names of other packages this code still needs.

The students' runtime, the rest of `genlab`, imports nothing from here (tests/test_layout.py
holds it), and the student edition ships without this folder.
"""
