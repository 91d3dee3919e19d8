"""Every graded part of every assignment, one module per assignment.

``PARTS`` maps a part's name (the graded function's name in the notebook) to its
:class:`~lstm_course.parts.common.Part`; ``ASSIGNMENTS`` maps an assignment to the
names of its parts, in the notebook's order. A part's test cell has the grade id
``test_<part>``.
"""

from lstm_course.parts import a1_rnn_bptt, a2_lstm_forward, a3_lstm_backward, a4_weather_lab, a5_gru, a6_peephole

_MODULES = (a1_rnn_bptt, a2_lstm_forward, a3_lstm_backward, a4_weather_lab, a5_gru, a6_peephole)

PARTS = {part.name: part for module in _MODULES for part in module.PARTS}
ASSIGNMENTS = {module.ASSIGNMENT: tuple(part.name for part in module.PARTS) for module in _MODULES}


def part_of_cell(grade_id):
    """The part that a test cell grades (``test_rnn_forward`` -> ``rnn_forward``), or None."""
    name = grade_id[len("test_"):] if grade_id.startswith("test_") else None
    return PARTS.get(name)
