"""The report registry: one record per report drives the config's checks, the reports rule's outputs,
the HTML report's captions and categories, and build_reports."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from test_reports import TASKS, make_squad_summary, make_summary, make_throughput

import bertq.pipeline.config as bq
from bertq.reports import build, registry
from bertq.reports.record import Report

BASE = {"models": {"m": {"source": "packaged:all-MiniLM-L6-v2"}}, "tasks": ["rotten_tomatoes"]}


def test_config_import_stays_cheap():
    """The Snakefile imports the config (and so the registry) on every DAG build."""
    code = (
        "import sys, bertq.pipeline.config as bq; bq.applicable_reports(['rte', 'squad']); "
        "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_report_names_the_known_ones():
    with pytest.raises(bq.ConfigError, match=r"reports\[1\]: unknown report 'fig99'; known reports: table1, fig2"):
        bq.validate({**BASE, "reports": ["table1", "fig99"]})
    with pytest.raises(bq.ConfigError, match="unknown report 'results'"):  # rendered always, not chosen
        bq.validate({**BASE, "reports": ["results"]})
    with pytest.raises(ValueError, match="unknown report 'nope'; known reports: table1"):
        build.build_reports("-", "-", "-", reports=["nope"], models_order=[], tasks=[], study_name="s")


def test_records_are_unique_and_complete():
    records = registry.reports()
    assert len(records) == len({r.name for r in records.values()})
    files = [f for r in records.values() for f in r.file_names(["a", "b"])]
    assert len(files) == len(set(files))  # no two reports write the same file
    for r in records.values():
        assert isinstance(r, Report) and r.caption.strip() and r.paper and r.files
        assert set(r.index_lines(["a", "b"], {}).keys()) == set(r.file_names(["a", "b"]))
    assert records["fig3"].file_names(["a", "b"]) == ["fig3_a.png", "fig3_a.svg", "fig3_b.png", "fig3_b.svg"]
    lines = records["fig3"].index_lines(["a"], {"a": "Model A"})
    assert lines["fig3_a.svg"] == "Figs. 3/4 for Model A: vector version."
    assert [r.name for r in registry.always()] == ["throughput_table", "throughput", "results"]


def test_html_items_by_paper():
    r = registry.reports()
    assert registry.html_item(r["table1"], "table1.csv") == ("Hu et al. (2022)", "Tables")
    assert registry.html_item(r["table1"], "table1.md") is None
    assert registry.html_item(r["zhao_fig1"], "zhao_fig1.png") == ("Zhao et al. (2021)", "Figures")
    assert registry.html_item(r["zhao_fig1"], "zhao_fig1.svg") is None
    assert registry.html_item(r["results"], "results.csv") == ("bertq: speed and all results", "Tables")


def test_captions_are_written_from_the_records(tmp_path):
    paths = registry.write_captions(tmp_path)
    assert set(paths) == set(registry.reports())
    text = paths["fig2"].read_text()
    assert text == registry.reports()["fig2"].caption + "\n\n{{ snakemake.params.study }}\n"
    mtime = paths["fig2"].stat().st_mtime_ns
    registry.write_captions(tmp_path)  # up to date: left alone
    assert paths["fig2"].stat().st_mtime_ns == mtime


def test_requirements_in_words():
    r = registry.reports()
    assert r["table2"].requirement() == "the task squad in tasks"
    assert r["zhao_table1"].requirement() == (
        "a GLUE, rotten_tomatoes or conll03 task in tasks and a method entry named linear_clustering in "
        "quantization.methods"
    )
    assert r["fig2"].applies(["rte"], {}) and not r["fig2"].applies(["squad"], {})
    assert r["zhao_table5"].applies(["rte"], {"kmeans": {}, "g": {"method": "linear_clustering", "granularity": 4}})
    assert not r["zhao_table5"].applies(["rte"], {"kmeans": {}, "linear_clustering": {}})


def test_planned_files_are_the_files_written(tmp_path):
    """The reports rule declares exactly what build_reports writes (plus index.md)."""
    pd.concat([make_summary(), make_squad_summary()], ignore_index=True).to_csv(tmp_path / "s.csv", index=False)
    make_throughput().to_csv(tmp_path / "t.csv", index=False)
    chosen = bq.applicable_reports(TASKS + ["squad"], {"lq": {}})
    models = ["small", "big"]
    written = build.build_reports(
        tmp_path / "s.csv",
        tmp_path / "t.csv",
        tmp_path / "out",
        reports=chosen,
        models_order=models,
        tasks=TASKS + ["squad"],
        study_name="s",
    )
    assert [p.name for p in written] == [f for _, f in registry.planned(chosen, models)] + ["index.md"]


def test_the_reports_code_hash_covers_every_report():
    """The catalog's modules are found by listing the package; the reports rule's code hash must
    still see them (and what they import when rendering), so editing one reruns the reports."""
    from bertq.pipeline.imports import import_closure

    closure = import_closure("bertq.reports.build")
    catalog = {r.render.__module__ for r in registry.reports().values()}
    assert catalog <= closure and {"bertq.reports.figures", "bertq.reports.zhao"} <= closure
