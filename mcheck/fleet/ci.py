"""JUnit and SARIF summaries of a batch for CI, rendered from the fleet summary.

JUnit: one test suite `fleet`; one test case per suspected-bug group (a <failure> with the
count, the breakdown by device model and firmware, and the representative), one per
error kind (an <error>), and one passing case for the conforming captures. A per-capture
file would be as long as the fleet; a group is what a person triages.
SARIF: one rule per group, one result per group located at its representative capture.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any
from collections.abc import Mapping

from mcheck import __version__
from mcheck.errors import InputError
from mcheck.report.junit import xml_text
from mcheck.report.sarif import SCHEMA_URI, artifact_uri


def _breakdown_text(group: Mapping[str, Any]) -> str:
    lines = [f"{b['device_model']} {b['firmware']}: {b['captures']}" for b in group["by_firmware"]]
    rep = group["representative"]
    lines.append(f"representative: {rep['path']}" + (f" (report {rep['report']})" if rep.get("report") else ""))
    if rep.get("reason"):
        lines.append(f"reason: {rep['reason']}")
    return "\n".join(lines)


def junit_fleet(summary: Mapping[str, Any]) -> str:
    t = summary["tally"]
    suites = ET.Element("testsuites", name="mcheck replay-batch")
    suite = ET.SubElement(suites, "testsuite", name="fleet")
    cases = 0
    ET.SubElement(suite, "testcase", name=f"conforming captures ({t['conforming']})", classname="fleet", time="0")
    cases += 1
    for g in summary["by_bug"]:
        case = ET.SubElement(suite, "testcase", name=f"divergent: {g['bug']}", classname="fleet.bug", time="0")
        failure = ET.SubElement(case, "failure", message=f"{g['captures']} capture(s) consistent with {g['bug']}",
                                type="divergence")
        failure.text = _breakdown_text(g)
        cases += 1
    for g in summary["errors"]:
        case = ET.SubElement(suite, "testcase", name=f"error: {g['kind']}", classname="fleet.error", time="0")
        error = ET.SubElement(case, "error", message=f"{g['captures']} capture(s) not judged: {g['kind']}", type=g["kind"])
        error.text = _breakdown_text(g)
        cases += 1
    suite.set("tests", str(cases))
    suite.set("failures", str(len(summary["by_bug"])))
    suite.set("errors", str(len(summary["errors"])))
    return xml_text(ET.tostring(suites, encoding="unicode", xml_declaration=True)) + "\n"


def sarif_fleet(summary: Mapping[str, Any]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for key, prefix, level in (("by_bug", "bug", "error"), ("errors", "capture-error", "warning")):
        name = "bug" if key == "by_bug" else "kind"
        for g in summary[key]:
            rule_id = f"{prefix}/{g[name]}"
            rules.append({"id": rule_id, "shortDescription": {"text": f"{prefix}: {g[name]}"}})
            results.append({
                "ruleId": rule_id, "ruleIndex": len(rules) - 1, "level": level,
                "message": {"text": f"{g['captures']} capture(s): " + _breakdown_text(g).replace("\n", "; ")},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(g["representative"]["path"])}}}],
                "properties": {"captures": g["captures"], "byFirmware": g["by_firmware"]},
            })
    run = {"tool": {"driver": {"name": "mcheck", "version": __version__, "rules": rules}},
           "invocations": [{"executionSuccessful": True}], "results": results,
           "properties": {"inputs": summary["inputs"], "tally": summary["tally"]}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def write_junit_fleet(summary: Mapping[str, Any], path: str) -> None:
    write_text(path, junit_fleet(summary))


def write_sarif_fleet(summary: Mapping[str, Any], path: str) -> None:
    write_text(path, json.dumps(sarif_fleet(summary), indent=2, default=str) + "\n")
