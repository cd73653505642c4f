"""JUnit XML: one test case per property, so CI dashboards show the model's properties.

A property's test case is named with its clause IDs (`no_dma_while_stopped [D-DP-9,
D-DP-16]`) and its class is the model, so a property keeps its history across runs.
A violation is a <failure> whose text is the counterexample as `mcheck check` prints it.
A bounded property is <skipped> with the bounds as the message: it did not pass, and it
did not fail either; skipped is the one JUnit state every CI tool shows as "not a pass"
without turning the build red (the run's exit code, 3, is what gates).
A violation that names no property of the result (a replay divergence, say) gets a test
case of its own, so nothing found is ever left out of the file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from mcheck.errors import InputError
from mcheck.report.text import format_violation
from mcheck.verdict import BOUNDED, HOLDS, PROVED, VIOLATED, Result, Violation


def case_name(name: str, clauses: list[str]) -> str:
    return f"{name} [{', '.join(clauses)}]" if clauses else name


def suite_name(result: Result) -> str:
    params = " ".join(f"{k}={v}" for k, v in result.params.items())
    return f"{result.model} ({params})" if params else result.model


def junit_root(result: Result) -> ET.Element:
    """The <testsuites> document for one result (one suite: the model with its parameters)."""
    by_property: dict[str, list[Violation]] = {}
    for v in result.violations:
        by_property.setdefault(v.property, []).append(v)
    cases: list[ET.Element] = []
    for p in result.properties:
        case = ET.Element("testcase", name=case_name(p.name, p.clauses), classname=result.model, time="0")
        if p.verdict == VIOLATED:
            found = by_property.pop(p.name, [])
            message = found[0].message if found else f"{p.kind} {p.name} is violated"
            failure = ET.SubElement(case, "failure", message=message, type=p.kind)
            failure.text = "\n".join(line for v in found for line in format_violation(v, show_initial=True))
        elif p.verdict == BOUNDED:
            bounds = ", ".join(result.bounds_hit) or "a bound"
            ET.SubElement(case, "skipped", message=f"bounded: nothing found within {bounds}; the search is incomplete")
        elif p.verdict not in (HOLDS, PROVED):
            ET.SubElement(case, "error", message=f"verdict {p.verdict}", type=p.verdict)
        cases.append(case)
    for name, found in by_property.items():  # violations that name no listed property
        case = ET.Element("testcase", name=case_name(name, found[0].clauses), classname=result.model, time="0")
        failure = ET.SubElement(case, "failure", message=found[0].message, type=found[0].kind)
        failure.text = "\n".join(line for v in found for line in format_violation(v, show_initial=True))
        cases.append(case)

    def count(tag: str) -> int:
        return sum(1 for c in cases if c.find(tag) is not None)

    totals = {"tests": str(len(cases)), "failures": str(count("failure")), "errors": str(count("error")),
              "skipped": str(count("skipped")), "time": f"{result.seconds:.3f}"}
    root = ET.Element("testsuites", {"name": "mcheck", **totals})
    suite = ET.SubElement(root, "testsuite", {"name": suite_name(result), **totals})
    props = ET.SubElement(suite, "properties")
    for key, value in (("kind", result.kind.value), ("engine", result.engine), ("verdict", result.verdict.value),
                       *((name, "-" if n is None else str(n)) for name, n in result.counts().items()),
                       *((f"param.{k}", str(v)) for k, v in result.params.items())):
        ET.SubElement(props, "property", name=key, value=value)
    suite.extend(cases)
    if result.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(result.notes)
    ET.indent(root)
    return root


#: Characters XML 1.0 does not allow anywhere (even as references): C0 controls except tab,
#: newline and carriage return, lone surrogates, U+FFFE and U+FFFF. They become a visible
#: \uXXXX escape, so the file stays well-formed and the text still shows where they were.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def junit_xml(result: Result) -> str:
    """The JUnit document; always well-formed XML 1.0 whatever the result's strings hold."""
    return xml_text(ET.tostring(junit_root(result), encoding="unicode", xml_declaration=True)) + "\n"


def write_junit(result: Result, path: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(junit_xml(result))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
