"""Module 05, what changed: the three ingredients (data, compute, attention) measured, their
figures and the attention explorer.

`scaling` measures loss against data and the speed of a matrix product three ways;
`recall` trains a window model and one attention head on a recall task; `figures` draws
the data curve, the rates and attention strips; `widget` shows where each position looks.

A notebook imports the topic (`from genlab import ingredients`) and finds every public name here.
"""

from .figures import (
    AttentionFigure,
    plot_accuracy_by_distance,
    plot_attention_strips,
    plot_data_curve,
    plot_rates,
)
from .recall import (
    DIGITS,
    QUERY,
    RecallTask,
    TinyAttention,
    Trained,
    WindowModel,
    accuracy_by_distance,
    recall_task,
    train_recall,
)
from .scaling import MODEL_SIZES, DataCurve, data_curve, python_matmul, time_matmul
from .widget import AttentionView, attention_explorer, attention_snapshots, attention_view

__all__ = [
    "DataCurve",
    "data_curve",
    "python_matmul",
    "time_matmul",
    "MODEL_SIZES",
    "DIGITS",
    "QUERY",
    "RecallTask",
    "recall_task",
    "TinyAttention",
    "WindowModel",
    "Trained",
    "train_recall",
    "accuracy_by_distance",
    "plot_data_curve",
    "plot_rates",
    "plot_accuracy_by_distance",
    "AttentionFigure",
    "plot_attention_strips",
    "AttentionView",
    "attention_view",
    "attention_snapshots",
    "attention_explorer",
]
