"""nbgrader_config.py sets real options of real classes (traitlets ignores a misspelled one)."""

from pathlib import Path

from course import ROOT
from traitlets.config.loader import PyFileConfigLoader


def _config():
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def _configurable(name):
    import nbgrader.converters as converters
    import nbgrader.coursedir as coursedir
    import nbgrader.exchange as factory
    import nbgrader.exchange.default as exchange
    import nbgrader.plugins as plugins
    import nbgrader.preprocessors as preprocessors
    from nbconvert import exporters

    import genlab.grader.preprocessors as grading
    import genlab.grader.sandbox as sandbox

    modules = (converters, coursedir, preprocessors, exchange, factory, plugins, grading, sandbox)
    modules += (exporters,)  # the feedback page's exporter
    for module in modules:
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(
        f"nbgrader_config.py configures {name}, which neither nbgrader, nbconvert nor genlab has"
    )


def test_every_setting_names_a_configurable_trait():
    config = _config()
    assert config, "nbgrader_config.py set nothing"
    for section, values in config.items():
        cls = _configurable(section)
        traits = cls.class_traits(config=True)
        for key in values:
            assert key in traits, f"{section}.{key} is not an option of {cls.__name__}"


def test_the_course_settings():
    config = _config()
    assert config.CourseDirectory.course_id == "genai"
    assert config.CourseDirectory.root == str(ROOT)
    assert 30 <= config.Execute.timeout <= 600
    assert config.OverwriteCells.add_missing_cells is True
    assert 0 < config.CourseDirectory.max_file_size <= config.CourseDirectory.max_dir_size
    names = [cls.__name__ for cls in config.Autograde.autograde_preprocessors]
    assert "Execute" not in names
    assert (
        names.index("GradingExecute")
        < names.index("StderrIsNotFailure")
        < names.index("SaveAutoGrades")
    )
    names = [cls.__name__ for cls in config.Autograde.sanitize_preprocessors]
    assert names.index("DeduplicateIds") < names.index("ForgetForeignCells")
    assert names.index("ForgetForeignCells") < names.index("OverwriteCells")
    assert config.Autograde.exporter_class.__name__ == "UnreadableIsBlank"
    assert config.Autograde.pre_convert_hook.func.__name__ == "prepare_hand_in"
    assert config.ExchangeFactory.collect.__name__ == "SafeCollect"
    assert config.GradingExecute.get("run_submissions_unsandboxed", False) is False

    names = [cls.__name__ for cls in config.GenerateFeedback.preprocessors]
    assert names.index("GetGradesAndWaiting") < names.index("HideHiddenTests")
    assert "GetGrades" not in names  # replaced, so answers that wait are marked
    assert config.HTMLExporter.template_file == "genlab-feedback.html.j2"
    for folder in config.HTMLExporter.extra_template_basedirs:  # the page and the one it extends
        assert (Path(folder) / "feedback").is_dir()


def test_students_use_the_instructors_course_and_exchange(monkeypatch):
    monkeypatch.setenv("GENLAB_EXCHANGE", "/tmp/some/exchange")
    students = PyFileConfigLoader("nbgrader_config_students.py", path=str(ROOT)).load_config()
    config = _config()
    assert students.CourseDirectory.course_id == config.CourseDirectory.course_id
    assert students.Exchange.root == config.Exchange.root == "/tmp/some/exchange"
    assert set(students) == {"CourseDirectory", "Exchange"}  # nothing else on their side
