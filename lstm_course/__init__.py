"""lstm_course: the course's machinery around the reference.

The assignments' sources (``assignments/<id>.md``) and the generator that makes the
nbgrader notebooks of them (``python -m lstm_course.generate``), the grading of
every part (``grading``), and the nbgrader plugins that run a class (``plugins``).
"""
